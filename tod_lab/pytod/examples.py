"""Training data: Action Parser (AP) and Parser Supervisor (PS) examples from gold programs.

- **AP** (task ``ap``): per user turn, the prompt up to the user's utterance -> the user's
  statements (``pass`` when there are none); and per user turn the *policy* example: the
  prompt up to the runtime's hints / signals -> the ``say(...)`` statement.
- **PS** (task ``ps``): per user turn that answers a system request (and per first user
  turn, about every unfilled argument of the task), numbered questions about slots ->
  ``1) san jose 2) unanswerable``. Negatives as in the reference: with p = 0.5 random
  still-unfilled slots of the task (answer ``unanswerable``), and with p = 0.5 a
  *confusable partner* of an asked slot (origin / destination, check-in / check-out ...).
  Partners are derived from the schema alone (see :func:`confusable_partner`), so new
  services get them too.

Training examples shuffle API / slot / choice / question order and shift variable indices,
seeded by ``seed``; dev / test examples are fixed. ``value_swap_copies`` adds copies of
user AP examples with their values swapped (:mod:`tod_lab.data.augment`). Both tasks are
cached with ``datasets`` (``save_to_disk``) under a key of the data's content, the
settings and the seed.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
from rapidfuzz import fuzz

from tod_lab.data.augment import SaidValues, SlotKey, swap_values
from tod_lab.data.numbers import CARDINAL_WORDS
from tod_lab.data.types import DONTCARE, Dialogue, DialogueSplit, Turn
from tod_lab.errors import ConfigError
from tod_lab.pytod.gold import GoldDialogue, GoldTurn, build_gold
from tod_lab.pytod.program import Assignments, Call, Const, Expr, SetAttr, Statement, VarRef
from tod_lab.pytod.prompts import (
    UNANSWERABLE,
    PromptContext,
    PromptRandomness,
    PromptSettings,
    ap_prompt,
    ap_target,
    ps_prompt,
    ps_target,
)
from tod_lab.pytod.simulator import (
    ApiCatalog,
    ServiceApi,
    SlotApi,
    VenueDatabase,
    backend_for,
)

log = logging.getLogger(__name__)

EXAMPLES_VERSION = "1"  # bump when the example format changes (invalidates caches)


@dataclass(frozen=True)
class ExampleSettings:
    say_examples: bool = True  # the policy (say) AP examples
    ps_examples: bool = True
    ps_unknown_probability: float = 0.5
    ps_confusable_probability: float = 0.5
    max_variable_offset: int = 20
    # a new task's call carries every new value of its service, not only its intent's
    # arguments (see GoldBuilder): off in the reference format, on for the tiny models
    values_in_new_call: bool = False
    # arguments and assignments in the order the user said their values (see GoldBuilder)
    mention_order: bool = False
    # categorical numbers in AP targets as the user said them, as strings ("five" / "2"
    # instead of 5 / 2): a copy head can point at the user's word, and the runtime maps
    # number words and digits to the schema's value. Numbers the user did not say stay ints
    numbers_as_said: bool = False
    # training only: this many extra copies of each user AP example whose target carries a
    # free-text value the prompt says, each value swapped (prompt and target alike) for
    # another value said for that slot in the split (tod_lab/data/augment.py)
    value_swap_copies: int = 0
    value_swap_categorical: bool = False  # categorical values said verbatim swap too

    def __post_init__(self) -> None:
        if self.value_swap_copies < 0:
            raise ConfigError("system.examples.value_swap_copies",
                              f"must be >= 0, got {self.value_swap_copies}")


# --------------------------------------------------------------------------- AP


@dataclass
class ValueSwaps:
    """What value-swap copies need: the split's said values and their own seeded rng (so
    that turning them on leaves every other example as it was)."""

    said: SaidValues
    rng: random.Random
    copies: int


def ap_examples(
    gold: GoldDialogue,
    catalog: ApiCatalog,
    prompts: PromptSettings,
    settings: ExampleSettings,
    rng: random.Random | None,
    swaps: ValueSwaps | None = None,
) -> Iterator[dict]:
    for turn in gold.turns:
        assert turn.user_context is not None and turn.say_context is not None
        rand = PromptRandomness(rng, settings.max_variable_offset)
        rename = rand.renumbering()
        statements = turn.user_statements
        if settings.numbers_as_said:
            statements = numbers_as_said(statements, _user_utterance(turn.user_context))
        row = {
            "source": ap_prompt(catalog, turn.user_context, prompts, rand, rename),
            "target": ap_target(statements, rename, prompts),
            "dialogue_id": gold.dialogue_id,
            "turn": turn.turn,
            "kind": "user",
        }
        yield row
        if swaps is not None:
            values = statement_values(statements, turn.user_context, catalog)
            for _ in range(swaps.copies if values else 0):
                swapped = swap_values(row["source"], row["target"], values, swaps.said,
                                      swaps.rng, lowercase=prompts.lowercase)
                if swapped is not None:
                    yield {**row, "source": swapped[0], "target": swapped[1], "kind": "user_swap"}
        if settings.say_examples and turn.say_statement is not None:
            rand = PromptRandomness(rng, settings.max_variable_offset)
            rename = rand.renumbering()
            yield {
                "source": ap_prompt(catalog, turn.say_context, prompts, rand, rename, task="say"),
                "target": ap_target([turn.say_statement], rename, prompts),
                "dialogue_id": gold.dialogue_id,
                "turn": turn.turn,
                "kind": "say",
            }


def statement_values(
    statements: Sequence[Statement], context: PromptContext, catalog: ApiCatalog
) -> list[tuple[SlotKey, str]]:
    """((service, schema slot), value) of every string value the statements give a slot.

    A value's service comes from its tool, or from the task variable it is assigned to
    (``x3.city = ...``, ``select(..., from_results=x3)``; ``next(x3)`` results count as x3).
    """
    service_of: dict[str, str] = {}
    for task in context.tasks:
        api = catalog.tool(task.func)
        if api is not None and task.target:
            service_of[task.target] = api.service
    for line in context.lines:
        stmt = line.statement
        if isinstance(stmt, Call) and stmt.func == "next" and stmt.target and stmt.args:
            source = stmt.args[0]
            if isinstance(source, VarRef) and source.name in service_of:
                service_of[stmt.target] = service_of[source.name]
    out: list[tuple[SlotKey, str]] = []

    def add(service: str | None, ident: str, expr: Expr) -> None:
        if service is None or not isinstance(expr, Const) or not isinstance(expr.value, str):
            return
        slot = catalog.services[service].slot(ident)
        if slot is not None:
            out.append(((service, slot.name), expr.value))

    for stmt in statements:
        if isinstance(stmt, Call):
            api = catalog.tool(stmt.func)
            if api is not None:
                service = api.service
                if stmt.target:
                    service_of[stmt.target] = service
            else:  # select(slot=..., from_results=xN)
                service = next((service_of.get(e.name) for _, e in stmt.kwargs
                                if isinstance(e, VarRef) and e.name in service_of), None)
            for ident, expr in stmt.kwargs:
                add(service, ident, expr)
        else:
            for item in stmt.items:
                add(service_of.get(item.var), item.attr, item.value)
    return out


def _user_utterance(context: PromptContext) -> str:
    users = [line.text for line in context.lines if line.kind == "user"]
    return users[-1] if users else ""


# number -> the word people say for it ("a", "single", "couple" also mean numbers, but a
# target written that way would be an odd program)
_NUMBER_WORD_OF = dict(enumerate(CARDINAL_WORDS))


def _as_said(expr: Expr, words: set[str]) -> Expr:
    if isinstance(expr, Const) and isinstance(expr.value, int) and not isinstance(expr.value, bool):
        for form in (str(expr.value), _NUMBER_WORD_OF.get(expr.value)):
            if form in words:
                return Const(form)
    return expr


def numbers_as_said(statements: Sequence[Statement], utterance: str) -> list[Statement]:
    """Integer constants the utterance says (as digits or a number word) become that word."""
    words = set(re.findall(r"[a-z0-9]+", utterance.lower()))
    out: list[Statement] = []
    for stmt in statements:
        if isinstance(stmt, Call):
            out.append(Call(stmt.target, stmt.func, tuple(_as_said(a, words) for a in stmt.args),
                            tuple((k, _as_said(v, words)) for k, v in stmt.kwargs)))
        else:
            out.append(Assignments(stmt.label, tuple(
                SetAttr(i.var, i.attr, _as_said(i.value, words)) for i in stmt.items)))
    return out


# --------------------------------------------------------------------------- PS

# Direction words whose swap makes two slots easy to confuse.
_DIRECTION_TOKENS = frozenset(
    "origin destination from to departure return arrival check in out pickup dropoff start "
    "end leaving leave arrive source target sub".split()
)


def confusable_partner(slot: SlotApi, service: ServiceApi) -> SlotApi | None:
    """The slot of the same service most easily confused with ``slot`` (or None).

    Schema-generic: among slots of the same kind (categorical or not; any kind when one
    name contains the other), the one whose name,
    with direction words (origin/destination, check in/out, pickup/dropoff, ...) removed,
    is most similar -- ``origin_city`` ~ ``destination_city``, ``check_in_date`` ~
    ``check_out_date``, ``category`` ~ ``subcategory`` -- if similar enough.
    """

    def core(name: str) -> str:
        tokens = name.replace("-", "_").split("_")
        kept = [t for t in tokens if t not in _DIRECTION_TOKENS]
        return " ".join(kept) or " ".join(tokens)

    best, best_score = None, 0.0
    for other in service.slots.values():
        if other.name == slot.name:
            continue
        nested = slot.ident in other.ident or other.ident in slot.ident  # category/subcategory
        if other.is_categorical != slot.is_categorical and not nested:
            continue
        score = fuzz.ratio(core(slot.ident), core(other.ident))
        if nested:
            score = max(score, 90.0)
        if score > best_score:
            best, best_score = other, score
    return best if best_score >= 80 else None


def _user_values(turn: Turn, service: str, gold_turn: GoldTurn, catalog: ApiCatalog):
    """slot -> value the user gave in this turn (state value for categorical slots)."""
    values: dict[str, str] = {}
    frame = turn.frame(service)
    if frame is None:
        return values
    state = gold_turn.states.get(service)
    for act in frame.actions:
        if act.act != "INFORM" or not act.values or act.slot not in catalog.services[service].slots:
            continue
        slot = catalog.services[service].slots[act.slot]
        if slot.is_categorical and state is not None and state.slot_values.get(act.slot):
            values[act.slot] = state.slot_values[act.slot][0]
        else:
            values[act.slot] = act.values[0]
    return values


def ps_examples(
    dialogue: Dialogue,
    gold: GoldDialogue,
    catalog: ApiCatalog,
    settings: ExampleSettings,
    rng: random.Random | None,
) -> Iterator[dict]:
    first_user = True
    for gold_turn in gold.turns:
        turn = dialogue.turns[gold_turn.turn]
        previous = dialogue.turns[gold_turn.turn - 1] if gold_turn.turn > 0 else None
        for service_name, state in gold_turn.states.items():
            service = catalog.services[service_name]
            frame = turn.frame(service_name)
            if frame is None or frame.state is None or state.active_intent == "NONE":
                continue
            intent = service.intents.get(state.active_intent)
            if intent is None:
                continue
            given = _user_values(turn, service_name, gold_turn, catalog)
            before = _state_before(gold, gold_turn, service_name)
            unfilled = [
                s for s in intent.arguments if s not in before and s in service.slots
            ]
            if first_user:
                asked = list(unfilled)
            else:
                asked = [s for s in gold_turn.asked.get(service_name, []) if s in service.slots]
            if not asked:
                continue
            questions = list(dict.fromkeys(asked))
            if not first_user and rng is not None:
                questions += _negatives(questions, unfilled, service, settings, rng)
            if rng is not None:
                rng.shuffle(questions)
            slots = [service.slots[s] for s in questions]
            answers = [_answer(given.get(s)) for s in questions]
            conversation = []
            if previous is not None:
                conversation.append(("agent", previous.utterance))
            conversation.append(("user", turn.utterance))
            yield {
                "source": ps_prompt(conversation, slots),
                "target": ps_target(answers),
                "dialogue_id": dialogue.dialogue_id,
                "turn": gold_turn.turn,
                "kind": "ps",
            }
        first_user = False


def _answer(value: str | None) -> str:
    if value is None:
        return UNANSWERABLE
    return value


def _state_before(gold: GoldDialogue, gold_turn: GoldTurn, service: str) -> set[str]:
    previous = None
    for t in gold.turns:
        if t is gold_turn:
            break
        previous = t
    if previous is None or service not in previous.states:
        return set()
    return {k for k, v in previous.states[service].slot_values.items() if v and v[0] != DONTCARE}


def _negatives(
    asked: Sequence[str],
    unfilled: Sequence[str],
    service: ServiceApi,
    settings: ExampleSettings,
    rng: random.Random,
) -> list[str]:
    out: list[str] = []
    candidates = [s for s in unfilled if s not in asked]
    if candidates and rng.random() < settings.ps_unknown_probability:
        out += rng.sample(candidates, rng.randint(1, len(candidates)))
    if rng.random() < settings.ps_confusable_probability:
        for slot in asked:
            partner = confusable_partner(service.slots[slot], service)
            if partner is not None and partner.name not in asked and partner.name not in out:
                out.append(partner.name)
    return out


# --------------------------------------------------------------------------- datasets


@dataclass
class ExampleCounts:
    ap_user: int = 0
    ap_say: int = 0
    ap_swapped: int = 0  # value-swap copies of user examples (training only)
    ap_empty_user: int = 0
    ps: int = 0
    dialogues: int = 0
    user_turns: int = 0

    @property
    def ap(self) -> int:
        return self.ap_user + self.ap_say + self.ap_swapped


def iter_examples(
    split: DialogueSplit,
    *,
    seed: int,
    train: bool,
    prompts: PromptSettings,
    settings: ExampleSettings,
    counts: ExampleCounts | None = None,
) -> Iterator[tuple[str, dict]]:
    """``("ap" | "ps", row)`` for every example of the split, counting into ``counts``."""
    catalog = ApiCatalog.from_schema(split.schema)
    db = VenueDatabase.from_dir(split.extras["db_dir"]) if split.extras.get("db_dir") else None
    rng = random.Random(seed) if train else None
    swaps = None
    if train and settings.value_swap_copies:
        said = SaidValues.from_split(split, categorical=settings.value_swap_categorical)
        swaps = ValueSwaps(said, random.Random(f"value-swaps:{seed}"),
                           settings.value_swap_copies)
    counts = counts if counts is not None else ExampleCounts()
    for dialogue in split.dialogues:
        gold = build_gold(dialogue, catalog, backend_for(dialogue, db),
                          values_in_new_call=settings.values_in_new_call,
                          mention_order=settings.mention_order)
        counts.dialogues += 1
        counts.user_turns += len(gold.turns)
        for row in ap_examples(gold, catalog, prompts, settings, rng, swaps):
            if row["kind"] == "user":
                counts.ap_user += 1
                counts.ap_empty_user += row["target"] == "pass"
            elif row["kind"] == "user_swap":
                counts.ap_swapped += 1
            else:
                counts.ap_say += 1
            yield "ap", row
        if settings.ps_examples:
            for row in ps_examples(dialogue, gold, catalog, settings, rng):
                counts.ps += 1
                yield "ps", row


def example_rows(
    split: DialogueSplit,
    *,
    seed: int,
    train: bool,
    prompts: PromptSettings,
    settings: ExampleSettings,
) -> tuple[list[dict], list[dict], ExampleCounts]:
    counts = ExampleCounts()
    rows: dict[str, list[dict]] = {"ap": [], "ps": []}
    for task, row in iter_examples(
        split, seed=seed, train=train, prompts=prompts, settings=settings, counts=counts
    ):
        rows[task].append(row)
    return rows["ap"], rows["ps"], counts


def content_key(split: DialogueSplit, *parts: object) -> str:
    """Hash of the split's files, its dialogue ids and ``parts`` (settings, seed)."""
    from tod_lab.data.records import content_key as records_key

    digest = hashlib.sha256(records_key(split).encode() if split.files else b"")
    if not split.files:  # in-memory splits (tests): hash the dialogues themselves
        for dialogue in split.dialogues:
            digest.update(repr(dialogue.to_json()).encode())
        digest.update(repr(split.schema.to_json()).encode())
    digest.update(repr((EXAMPLES_VERSION, *parts)).encode())
    return digest.hexdigest()[:24]


def _chunked_datasets(rows: Iterator[tuple[str, dict]], chunk: int = 20000):
    """Datasets built chunk by chunk: Arrow tables, not millions of Python strings."""
    pending: dict[str, list[dict]] = {"ap": [], "ps": []}
    parts: dict[str, list[datasets.Dataset]] = {"ap": [], "ps": []}
    for task, row in rows:
        pending[task].append(row)
        if len(pending[task]) >= chunk:
            parts[task].append(datasets.Dataset.from_list(pending[task]))
            pending[task] = []
    out: dict[str, datasets.Dataset] = {}
    for task in ("ap", "ps"):
        if pending[task]:
            parts[task].append(datasets.Dataset.from_list(pending[task]))
        if parts[task]:
            out[task] = datasets.concatenate_datasets(parts[task])
    return out


def build_example_datasets(
    split: DialogueSplit,
    *,
    seed: int,
    train: bool,
    prompts: PromptSettings,
    settings: ExampleSettings,
    cache_dir: str | Path | None = None,
) -> tuple[dict[str, datasets.Dataset], ExampleCounts]:
    """``{"ap": Dataset, "ps": Dataset}`` (+ counts), cached on disk by content."""
    key = content_key(split, seed, train, asdict(prompts), asdict(settings))
    target = Path(cache_dir) / "pytod_examples" / f"{split.corpus}-{split.split}-{key}" if cache_dir else None
    if target is not None and (target / "counts.json").is_file():
        from tod_lab.data.io import read_json

        counts = ExampleCounts(**read_json(target / "counts.json"))
        loaded = {
            task: datasets.load_from_disk(str(target / task))
            for task in ("ap", "ps")
            if (target / task).is_dir()
        }
        return loaded, counts
    counts = ExampleCounts()
    out = _chunked_datasets(
        iter_examples(split, seed=seed, train=train, prompts=prompts, settings=settings,
                      counts=counts)
    )
    if target is not None:
        from tod_lab.data.io import write_json

        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        for task, dataset in out.items():
            dataset.save_to_disk(str(tmp / task))
        write_json(tmp / "counts.json", asdict(counts))
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
        out = {task: datasets.load_from_disk(str(target / task)) for task in out}
    return out, counts


def main(argv: list[str] | None = None) -> int:
    """``python -m tod_lab.pytod.examples --root SGD_DIR --split train``: example counts."""
    import argparse
    import json
    import time

    from tod_lab.data.sgd import read_split

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = read_split(args.root, args.split)
    counts = ExampleCounts()
    for _ in iter_examples(data, seed=args.seed, train=args.split == "train",
                           prompts=PromptSettings(), settings=ExampleSettings(), counts=counts):
        pass
    out = {**asdict(counts), "ap": counts.ap, "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
