"""Multitask instruction data for Spec-TOD, built from gold dialogues.

:func:`gold_turns` turns a reference dialogue into the :class:`~tod_lab.spectod.prompts.
TurnRecord` s the agent itself produces at inference (calls, observations, action,
delexicalised response), so both sides render through the same code. From them:

* ``e2e`` — one conversation per dialogue (DST calls + policy/response, loss on the calls and
  the assistant answers); the system message lists the functions and the full action
  inventory, with an instruction paraphrase sampled with the seed;
* ``domain`` — one short example per user turn: which functions the turn concerns (the
  official code did this in-context; tod_lab trains it as a fourth task);
* ``e2e_swap`` — optional copies of the ``e2e`` conversations with their free-text values
  swapped for others said for the same slots elsewhere in the split
  (:mod:`tod_lab.data.augment`), loss on the calls only;
* ``aux_dst`` — optional DST-only conversations from an auxiliary SGD corpus mixed into
  MultiWOZ training, at most ``max_per_domain`` dialogues per SGD domain (seeded choice).

Deliberate fixes of the official code's defects (see docs in the README):

* one history format at train and inference (delexicalised responses, calls on exactly the
  turns whose functions are active, the action JSON-encoded once, the same function list);
* DB match counts are the number of ENTITIES matching the gold state (the official code
  counted domains);
* ``dontcare`` is a value like any other and the cumulative call replaces the state, so
  slots can change and be removed;
* domain prediction at inference sees the agent's own previous responses, never gold ones;
* every random choice (instruction paraphrases, auxiliary dialogues) uses the given seed.

Which functions a turn calls ("active" functions): the services whose state changed in the
turn, plus the services the turn is about (MultiWOZ 2.2: frames with an active intent; SGD:
the frames of the turn). This includes every "user turn whose state changed" of the
reference; the extra unchanged-but-active calls keep the observation fresh and are exactly
what the agent does at inference, where it calls every function the domain predictor names.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tod_lab.data.augment import SaidValues, SlotKey, plan_swaps, swapper
from tod_lab.data.types import NONE_INTENT, Dialogue, DialogueSplit, Turn
from tod_lab.errors import DataError
from tod_lab.spectod import delex
from tod_lab.spectod.db import Database
from tod_lab.spectod.functions import FunctionCatalog, FunctionSpec
from tod_lab.spectod.prompts import (
    DOMAIN_INSTRUCTIONS,
    CallRecord,
    ChatRoles,
    TurnRecord,
    action_inventory_text,
    domain_system_message,
    domain_target,
    domain_user_message,
    dst_instructions,
    dst_system_message,
    e2e_instructions,
    e2e_system_message,
    message,
    sample_instruction,
    turn_messages,
)
from tod_lab.spectod.state import check_call_style, delta_arguments, gold_arguments, to_arguments

# MultiWOZ system acts (ConvLab inventory). The official instruction listed only some of
# them; tod_lab lists all of these plus whatever else the training data uses.
MULTIWOZ_ACTS = (
    "inform", "request", "nooffer", "recommend", "select", "offerbook", "offerbooked",
    "nobook", "book", "bye", "greet", "reqmore", "welcome",
)  # fmt: skip
MULTIWOZ_PSEUDO_DOMAINS = ("booking", "general")


@dataclass
class GoldTurn:
    record: TurnRecord
    active: list[str]  # function names, catalog order (the domain-prediction target)
    slots: dict[str, dict[str, str]]  # cumulative gold state after the turn (service -> ...)
    intents: dict[str, str]
    user_turn: Turn
    system_turn: Turn | None


@dataclass(frozen=True)
class ActionInventory:
    acts: tuple[str, ...]
    domains: tuple[str, ...]

    def text(
        self, specs: Sequence[FunctionSpec] | None = None, style: str = "multiwoz",
        detail: str = "full",
    ) -> str:
        """The inventory shown in the system message.

        SGD: the action domains are the prompt's functions (the dialogue's services), like
        the function list itself; MultiWOZ: every domain (+ booking / general).
        """
        domains = self.domains
        if specs is not None and style == "sgd":
            domains = tuple(spec.name for spec in specs)
        return action_inventory_text(
            self.acts, domains, "[slot]" if style == "multiwoz" else "[value_slot]", detail
        )

    def to_json(self) -> dict[str, Any]:
        return {"acts": list(self.acts), "domains": list(self.domains)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ActionInventory:
        return cls(tuple(obj["acts"]), tuple(obj["domains"]))


def _active_in_turn(frame_state_intent: str, style: str) -> bool:
    # SGD lists a frame only for the services a turn is about; MultiWOZ 2.2 lists every
    # domain on every user turn and marks the ones the turn is about with an intent
    return style == "sgd" or frame_state_intent != NONE_INTENT


def gold_turns(
    dialogue: Dialogue,
    catalog: FunctionCatalog,
    db: Database | None,
    *,
    dialog_acts: Mapping[str, Any] | None = None,
    argument_order: str = "spec",
    call_style: str = "cumulative",
) -> list[GoldTurn]:
    """The reference dialogue as the turn records the agent produces (``argument_order``:
    see :func:`tod_lab.spectod.state.gold_arguments`; ``call_style``: whole-state calls or
    what the turn changed, :func:`tod_lab.spectod.state.delta_arguments`)."""
    check_call_style(call_style)
    function_names = {spec.service: spec.name for spec in catalog}
    slots: dict[str, dict[str, str]] = {}
    intents: dict[str, str] = {}
    out: list[GoldTurn] = []
    turns = dialogue.turns
    for index, turn in enumerate(turns):
        if not turn.is_user:
            continue
        before = ({service: dict(values) for service, values in slots.items()}, dict(intents))
        active_services: set[str] = set()
        for frame in turn.frames:
            if frame.state is None or not catalog.has_service(frame.service):
                continue
            spec = catalog.for_service(frame.service)
            new_slots, intent = gold_arguments(spec, frame.state, slots.get(frame.service),
                                               utterance=turn.utterance, order=argument_order)
            old = (slots.get(frame.service, {}), intents.get(frame.service))
            slots[frame.service] = new_slots
            if intent is None:
                intents.pop(frame.service, None)
            else:
                intents[frame.service] = intent
            changed = old != (new_slots, intent)
            if changed or _active_in_turn(frame.state.active_intent, catalog.style):
                active_services.add(frame.service)
        calls: list[CallRecord] = []
        active: list[str] = []
        for spec in catalog:
            if spec.service not in active_services:
                continue
            active.append(spec.name)
            call = _gold_call(spec, slots, intents, db, argument_order)
            if call_style == "delta":
                changed, intent = delta_arguments(
                    slots.get(spec.service, {}), intents.get(spec.service),
                    before[0].get(spec.service, {}), before[1].get(spec.service))
                call = replace(call, arguments=to_arguments(spec, changed, intent, argument_order))
            calls.append(call)
        system = turns[index + 1] if index + 1 < len(turns) else None
        if system is not None and system.is_user:
            raise DataError(
                "two user turns in a row", dialogue_id=dialogue.dialogue_id, turn=index + 1
            )
        action, response = _system_side(dialogue, system, index + 1, catalog, function_names,
                                         dialog_acts)
        record = TurnRecord(
            user=turn.utterance,
            calls=calls,
            action=action,
            response=response,
            has_response=system is not None,
        )
        out.append(
            GoldTurn(
                record=record,
                active=active,
                slots={s: dict(v) for s, v in slots.items()},
                intents=dict(intents),
                user_turn=turn,
                system_turn=system,
            )
        )
    return out


def _gold_call(
    spec: FunctionSpec,
    slots: Mapping[str, Mapping[str, str]],
    intents: Mapping[str, str],
    db: Database | None,
    argument_order: str = "spec",
) -> CallRecord:
    values = dict(slots.get(spec.service, {}))
    intent = intents.get(spec.service)
    constraints = dict(values)
    if intent is not None:
        constraints["intent"] = intent
    count = db.count(spec.service, constraints) if db is not None else None
    first = db.first_name(spec.service, constraints) if db is not None else None
    return CallRecord(spec.name, to_arguments(spec, values, intent, argument_order), count, first)


def _system_side(
    dialogue: Dialogue,
    system: Turn | None,
    index: int,
    catalog: FunctionCatalog,
    function_names: Mapping[str, str],
    dialog_acts: Mapping[str, Any] | None,
) -> tuple[dict[str, dict[str, list[str]]], str]:
    if system is None:
        return {}, ""
    if catalog.style == "multiwoz":
        acts = delex.turn_acts(dialog_acts, dialogue.dialogue_id, system, index)
        return delex.multiwoz_action(acts), delex.multiwoz_delex(system, acts)
    return delex.sgd_action(system, function_names), delex.sgd_delex(system)


def action_inventory(
    catalog: FunctionCatalog, gold: Iterable[Sequence[GoldTurn]]
) -> ActionInventory:
    acts: set[str] = set(MULTIWOZ_ACTS) if catalog.style == "multiwoz" else set()
    domains: list[str] = (
        [spec.service.lower() for spec in catalog]
        if catalog.style == "multiwoz"
        else [spec.name for spec in catalog]
    )
    if catalog.style == "multiwoz":
        domains += list(MULTIWOZ_PSEUDO_DOMAINS)
    for turns in gold:
        for turn in turns:
            for domain, by_act in turn.record.action.items():
                name = domain.strip("[]")
                if name not in domains:
                    domains.append(name)
                acts.update(a.strip("[]") for a in by_act)
    return ActionInventory(tuple(sorted(acts)), tuple(domains))


@dataclass
class PromptConfig:
    """What the prompts contain; the same object is used to train and to run the agent."""

    roles: ChatRoles = field(default_factory=ChatRoles)
    functions_in_prompt: str = "auto"  # all | dialogue | auto (all for MultiWOZ, dialogue SGD)
    domain_history_turns: int = 2  # previous exchanges the domain predictor sees
    domain_history_calls: bool = False  # ... with the functions called in each of them
    # full | compact (no descriptions) | names (argument names only) | functions (function
    # names on one line, no call format or action inventory: for tiny models trained on one
    # fixed schema)
    spec_detail: str = "full"
    # a call's arguments in the spec's order, or "state": the previous call's first, then
    # what the turn added (tod_lab.spectod.state.gold_arguments)
    argument_order: str = "spec"
    # cumulative: each call holds the whole state (the paper) | delta: what the turn changed
    # (tod_lab.spectod.state.delta_arguments; the agent merges it into its state)
    call_style: str = "cumulative"
    spaced_values: bool = False  # call values written " north ": see prompts.render_call
    # observations also name the first DB match ("There are 3 entities match, the first is
    # x"): the delexicalised history never shows the venue the system offered, which
    # the state needs once the user takes it ("book it")
    observation_names: bool = False

    def prompt_functions(self, catalog: FunctionCatalog, dialogue: Dialogue) -> list[FunctionSpec]:
        mode = self.functions_in_prompt
        if mode == "auto":
            mode = "all" if catalog.style == "multiwoz" else "dialogue"
        if mode == "all":
            return list(catalog)
        if mode == "dialogue":
            # SGD: the services of a dialogue are part of its input (the official evaluator
            # requires them); MultiWOZ does not give them, so "all" is its default
            return catalog.select(dialogue.services)
        raise DataError(f"system.functions_in_prompt must be all|dialogue|auto, not {mode!r}")


def e2e_conversation(
    gold: Sequence[GoldTurn],
    specs: Sequence[FunctionSpec],
    inventory: ActionInventory,
    prompt: PromptConfig,
    rng: random.Random | None,
    style: str = "multiwoz",
    *,
    policy_loss: bool = True,
) -> list[dict[str, Any]]:
    system = e2e_system_message(sample_instruction(e2e_instructions(prompt.call_style), rng), specs,
                                inventory.text(specs, style, prompt.spec_detail),
                                prompt.spec_detail)
    messages = [message(prompt.roles.system, system)]
    for turn in gold:
        messages += turn_messages(turn.record, prompt.roles, loss=True,
                                  spaced_values=prompt.spaced_values,
                                  observation_names=prompt.observation_names,
                                  policy_loss=policy_loss)
    return messages


def dialogue_values(gold: Sequence[GoldTurn]) -> list[tuple[SlotKey, str]]:
    """Every (service, slot) value the dialogue's state holds at some turn, first seen first."""
    seen: dict[tuple[SlotKey, str], None] = {}
    for turn in gold:
        for service, slots in turn.slots.items():
            for slot, value in slots.items():
                seen.setdefault(((service, slot), value), None)
    return list(seen)


def json_safe(said: SaidValues) -> SaidValues:
    """``said`` without the values a JSON call could not carry verbatim (quotes, escapes):
    a swapped value is written into the calls' text as it is."""
    return SaidValues({
        key: tuple(v for v in values if '"' not in v and "\\" not in v)
        for key, values in said.pools.items()
    })


def answer_pools(gold: Iterable[Sequence[GoldTurn]]) -> dict[tuple[str, ...], list[tuple[Any, str]]]:
    """Every system answer (action, delexicalised response) of the split, by the functions
    its turn called: what :func:`shuffle_answers` draws from."""
    pools: dict[tuple[str, ...], list[tuple[Any, str]]] = {}
    for turns in gold:
        for turn in turns:
            if turn.record.has_response:
                pools.setdefault(tuple(turn.active), []).append(
                    (turn.record.action, turn.record.response))
    return pools


def shuffle_answers(
    gold: Sequence[GoldTurn],
    pools: Mapping[tuple[str, ...], Sequence[tuple[Any, str]]],
    probability: float,
    rng: random.Random,
) -> list[GoldTurn]:
    """``gold`` with each system answer replaced, with ``probability``, by another answer of
    a turn that called the same functions (``system.response_shuffle``).

    Why: at inference the history holds the agent's own answers, and the user's next words
    reply to the reference's; trained on reference answers only, a model reads the user's
    turn through the system's ("I'd like thai food." after its own "I recommend [name]"
    changed nothing for sq19's model: JGA 64.0 with its own answers in the history, 88.2
    with the reference's). Calls, observations and the user's words stay as they were.
    """
    out = []
    for turn in gold:
        pool = pools.get(tuple(turn.active), ())
        if turn.record.has_response and pool and rng.random() < probability:
            action, response = pool[rng.randrange(len(pool))]
            turn = replace(turn, record=replace(turn.record, action=action, response=response))
        out.append(turn)
    return out


def e2e_swap_conversations(
    gold: Sequence[GoldTurn],
    specs: Sequence[FunctionSpec],
    inventory: ActionInventory,
    prompt: PromptConfig,
    said: SaidValues,
    rng: random.Random,
    copies: int,
    style: str = "multiwoz",
) -> list[list[dict[str, Any]]]:
    """Up to ``copies`` copies of the dialogue's e2e conversation, each with the values its
    conversation says swapped for others of the same slots (user words, observations and
    calls alike), and the loss on the calls only.

    Why calls only: a swap keeps the dialogue state true, but not the DB the observations
    counted ("There are 2 entities match" was about the old values), so the action after
    it is no longer a fact to learn; it stays as context.
    """
    messages = e2e_conversation(gold, specs, inventory, prompt, rng, style, policy_loss=False)
    # what the conversation says: every message but the instruction and the calls (the
    # delexicalised responses say no values; observations name the first match)
    said_text = "\n".join(m["content"] for m in messages[1:] if not m["loss"])
    values = dialogue_values(gold)
    out: list[list[dict[str, Any]]] = []
    for _ in range(copies if values else 0):
        replacements = plan_swaps(said_text, values, said, rng)
        if not replacements:
            break
        swap = swapper(replacements)
        out.append([messages[0]] + [{**m, "content": swap(m["content"])} for m in messages[1:]])
    return out


def dst_conversation(
    gold: Sequence[GoldTurn],
    specs: Sequence[FunctionSpec],
    prompt: PromptConfig,
    rng: random.Random | None,
) -> list[dict[str, Any]]:
    system = dst_system_message(sample_instruction(dst_instructions(prompt.call_style), rng), specs,
                                prompt.spec_detail)
    messages = [message(prompt.roles.system, system)]
    for turn in gold:
        # DST only: the system's own (lexicalised) words are context, e.g. the name it offered
        said = turn.system_turn.utterance if turn.system_turn is not None else ""
        record = replace(turn.record, response=said)
        messages += turn_messages(record, prompt.roles, loss=True, with_policy=False,
                                  spaced_values=prompt.spaced_values)
    return messages


def domain_messages(
    history: Sequence[TurnRecord],
    utterance: str,
    specs: Sequence[FunctionSpec],
    prompt: PromptConfig,
    rng: random.Random | None,
    target: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    out = [
        message(prompt.roles.system,
                domain_system_message(sample_instruction(DOMAIN_INSTRUCTIONS, rng), specs)),
        message(prompt.roles.user,
                domain_user_message(history, utterance, prompt.domain_history_turns,
                                    prompt.domain_history_calls)),
    ]
    if target is not None:
        out.append(message(prompt.roles.assistant, domain_target(target), True))
    return out


def select_aux_dialogues(
    split: DialogueSplit, max_per_domain: int, seed: int
) -> list[Dialogue]:
    """At most ``max_per_domain`` dialogues per SGD domain, chosen with ``seed``.

    Dialogues are visited in a seeded order; one is taken while any of its domains is under
    the cap and then counts for all of them (a multi-domain dialogue is not duplicated).
    """
    order = sorted(split.dialogues, key=lambda d: d.dialogue_id)
    random.Random(seed).shuffle(order)
    taken: list[Dialogue] = []
    per_domain: dict[str, int] = {}
    for dialogue in order:
        domains = {s.split("_")[0] for s in dialogue.services}
        if max_per_domain > 0 and not any(per_domain.get(d, 0) < max_per_domain for d in domains):
            continue
        taken.append(dialogue)
        for d in domains:
            per_domain[d] = per_domain.get(d, 0) + 1
    return taken


def build_task_rows(
    split: DialogueSplit,
    catalog: FunctionCatalog,
    db: Database | None,
    inventory: ActionInventory,
    prompt: PromptConfig,
    *,
    seed: int | None,
    gold: Mapping[str, Sequence[GoldTurn]],
    tasks: Sequence[str] = ("e2e", "domain"),
) -> dict[str, list[dict[str, Any]]]:
    """Rows ``{"messages": [...], "dialogue_id": ..., "task": ...}`` per task.

    ``seed`` drives the instruction paraphrases; ``None`` always uses the first paraphrase
    (the one the agent uses at inference).
    """
    unknown = sorted(set(tasks) - {"e2e", "dst", "domain"})
    if unknown:
        raise DataError(f"unknown Spec-TOD tasks {unknown}; choose from e2e, dst, domain")
    rng = random.Random(seed) if seed is not None else None
    rows: dict[str, list[dict[str, Any]]] = {task: [] for task in tasks}
    for dialogue in split:
        turns = gold[dialogue.dialogue_id]
        specs = prompt.prompt_functions(catalog, dialogue)
        if "e2e" in rows:
            rows["e2e"].append(
                {
                    "task": "e2e",
                    "dialogue_id": dialogue.dialogue_id,
                    "messages": e2e_conversation(turns, specs, inventory, prompt, rng,
                                                 catalog.style),
                }
            )
        if "dst" in rows:
            rows["dst"].append(
                {
                    "task": "dst",
                    "dialogue_id": dialogue.dialogue_id,
                    "messages": dst_conversation(turns, specs, prompt, rng),
                }
            )
        if "domain" in rows:
            for position, turn in enumerate(turns):
                rows["domain"].append(
                    {
                        "task": "domain",
                        "dialogue_id": f"{dialogue.dialogue_id}#{position}",
                        "messages": domain_messages(
                            [t.record for t in turns[:position]],
                            turn.record.user,
                            specs,
                            prompt,
                            rng,
                            target=turn.active,
                        ),
                    }
                )
    return rows
