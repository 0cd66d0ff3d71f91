"""``SpecTODSystem``: Spec-TOD behind the :class:`tod_lab.systems.System` seam.

``build_examples(train, seed)`` -> ``{"e2e", "domain"[, "dst"][, "e2e_swap"][, "aux_dst"]:
Dataset}`` of
chat rows; ``run(eval_split, generator, run_dir)`` runs the in-process agent and scores it:

* MultiWOZ layout: predictions in the mwzeval format (``predictions/mwz_predictions.json``)
  scored by :mod:`tod_lab.eval.multiwoz` (Inform / Success / BLEU / Combined, DST JGA in the
  mwzeval and Spec-TOD/FnCTOD flavours, each labelled);
* SGD layout: predicted dialogues in the official format (``predictions/sgd/``) scored by
  :mod:`tod_lab.eval.sgd` (official JGA etc.), plus action F1 on act-slot pairs and BLEU on
  delexicalised responses (``spectod_sgd_e2e``).

The function catalog, action inventory and training services are fixed by
``build_examples`` (from the TRAINING split) and written to the run dir with the
predictions (``spectod_resources.json``), so inference uses what training used.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tod_lab.data.augment import SaidValues
from tod_lab.data.io import read_json, write_json
from tod_lab.data.types import DialogueSplit
from tod_lab.errors import ConfigError, DataError
from tod_lab.spectod.agent import AgentSettings, PredictedTurn, SpecTODAgent
from tod_lab.spectod.db import Database, MultiWOZDB, ServiceResultsDB
from tod_lab.spectod.examples import (
    ActionInventory,
    GoldTurn,
    PromptConfig,
    action_inventory,
    answer_pools,
    build_task_rows,
    dst_conversation,
    e2e_swap_conversations,
    gold_turns,
    json_safe,
    select_aux_dialogues,
    shuffle_answers,
)
from tod_lab.spectod.functions import FunctionCatalog, build_catalog
from tod_lab.spectod.prompts import CALL_CLOSE, CALL_OPEN, ChatRoles, argument_key_token
from tod_lab.spectod.state import check_argument_order, check_call_style
from tod_lab.systems import Generator, RunResult

log = logging.getLogger(__name__)

RESOURCES_FILE = "spectod_resources.json"
SGD_E2E_PROTOCOL = "spectod_sgd_e2e"  # action F1 on (act, slot) pairs, sacrebleu on delex


class SpecTODSystem:
    name = "spectod"
    model_kind = "causal"
    needs_training = True
    added_tokens = (CALL_OPEN, CALL_CLOSE)

    def __init__(
        self,
        *,
        style: str = "auto",
        tasks: Sequence[str] = ("e2e", "domain"),
        functions_in_prompt: str = "auto",
        domain_history_turns: int = 2,
        domain_history_calls: bool = False,
        spec_detail: str = "full",
        argument_order: str = "spec",
        call_style: str = "cumulative",
        spaced_values: bool = False,
        observation_names: bool = False,
        roles: Mapping[str, str] | None = None,
        intent_argument: bool | None = None,
        num_examples: int = 3,
        time_share: float = 0.9,
        db_dir: str | None = None,
        aux_dst: Mapping[str, Any] | None = None,
        value_swap_copies: int = 0,
        value_swap_categorical: bool = False,
        response_shuffle: float = 0.0,
        call_key_tokens: bool = False,
        agent: Mapping[str, Any] | None = None,
        eval_dialogues: int | None = None,
        eval_seed: int = 0,
        eval_root: str | None = None,
        name: str = "spectod",
    ):
        self.name = name
        check_argument_order(argument_order)
        check_call_style(call_style)
        self.style = style
        self.tasks = tuple(tasks)
        self.prompt = PromptConfig(
            roles=ChatRoles(**dict(roles or {})),
            functions_in_prompt=functions_in_prompt,
            domain_history_turns=int(domain_history_turns),
            domain_history_calls=bool(domain_history_calls),
            spec_detail=spec_detail,
            argument_order=argument_order,
            call_style=call_style,
            spaced_values=bool(spaced_values),
            observation_names=bool(observation_names),
        )
        self.intent_argument = intent_argument
        self.num_examples = int(num_examples)
        self.time_share = float(time_share)
        self.db_dir = db_dir
        self.aux_dst = dict(aux_dst or {})
        if int(value_swap_copies) < 0:
            raise ConfigError("system.value_swap_copies", f"must be >= 0, got {value_swap_copies}")
        self.value_swap_copies = int(value_swap_copies)
        if self.value_swap_copies and "e2e" not in self.tasks:
            raise ConfigError("system.value_swap_copies",
                              f"copies e2e conversations, but system.tasks is {list(self.tasks)}",
                              "add e2e to system.tasks or set system.value_swap_copies=0")
        self.value_swap_categorical = bool(value_swap_categorical)
        if not 0.0 <= float(response_shuffle) <= 1.0:
            raise ConfigError("system.response_shuffle", f"a probability in [0, 1], got {response_shuffle}")
        if float(response_shuffle) and not self.value_swap_copies:
            raise ConfigError("system.response_shuffle", "shuffles the answers of the value-swapped "
                              "copies, but system.value_swap_copies is 0",
                              "set system.value_swap_copies >= 1")
        self.response_shuffle = float(response_shuffle)
        self.call_key_tokens = bool(call_key_tokens)
        self._key_arguments: set[str] = set()  # argument names of every catalog trained on
        try:
            self.agent_settings = AgentSettings(**dict(agent or {}))
        except TypeError as err:
            raise ConfigError("system.agent", str(err),
                              f"known keys: {sorted(AgentSettings.__dataclass_fields__)}") from err
        if isinstance(self.agent_settings.response_stop, list):
            self.agent_settings.response_stop = tuple(self.agent_settings.response_stop)
        self.eval_dialogues = eval_dialogues
        self.eval_seed = int(eval_seed)
        self.eval_root = eval_root
        self.catalog: FunctionCatalog | None = None
        self.inventory: ActionInventory | None = None
        self.train_services: tuple[str, ...] | None = None

    # ------------------------------------------------------------------ resources
    def prepare(self, train: DialogueSplit) -> None:
        """Fix the function catalog from the TRAINING split (examples, time slots)."""
        self.catalog = build_catalog(
            train.schema,
            style=self.style,
            train=train,
            intent_argument=self.intent_argument,
            num_examples=self.num_examples,
            time_share=self.time_share,
        )
        self.train_services = train.schema.service_names
        self._key_arguments.update(a.name for spec in self.catalog for a in spec.arguments)

    def tokenizer_tokens(self) -> tuple[str, ...]:
        """Atomic tokens for the tokenizer (the pipeline passes them to training): with
        ``call_key_tokens``, ``"<argument>": "`` for every argument of the functions trained
        on. Known once :meth:`build_examples` has fixed the catalog(s)."""
        if not self.call_key_tokens:
            return ()
        if not self._key_arguments:
            raise ConfigError("system.call_key_tokens",
                              "the argument key tokens are known only after build_examples")
        return tuple(argument_key_token(name) for name in sorted(self._key_arguments))

    def database(self, split: DialogueSplit) -> Database | None:
        assert self.catalog is not None
        if self.catalog.style == "multiwoz":
            return MultiWOZDB.from_split(split, self.db_dir)
        return ServiceResultsDB.from_split(split)

    def resources_json(self) -> dict[str, Any]:
        assert self.catalog is not None and self.inventory is not None
        return {
            "catalog": self.catalog.to_json(),
            "inventory": self.inventory.to_json(),
            "train_services": list(self.train_services or ()),
            "prompt": {
                "roles": asdict(self.prompt.roles),
                "functions_in_prompt": self.prompt.functions_in_prompt,
                "domain_history_turns": self.prompt.domain_history_turns,
                "domain_history_calls": self.prompt.domain_history_calls,
                "spec_detail": self.prompt.spec_detail,
                "argument_order": self.prompt.argument_order,
                "call_style": self.prompt.call_style,
                "spaced_values": self.prompt.spaced_values,
                "observation_names": self.prompt.observation_names,
                "call_key_tokens": self.call_key_tokens,
            },
        }

    def load_resources(self, path: Path) -> None:
        obj = read_json(path)
        self.catalog = FunctionCatalog.from_json(obj["catalog"])
        self.inventory = ActionInventory.from_json(obj["inventory"])
        self.train_services = tuple(obj.get("train_services", ()))

    # ------------------------------------------------------------------ examples
    def build_examples(self, train: DialogueSplit, *, seed: int) -> dict[str, Any]:
        rows = self.build_rows(train, seed=seed)
        from datasets import Dataset

        return {task: Dataset.from_list(items) for task, items in rows.items() if items}

    def build_rows(self, train: DialogueSplit, *, seed: int | None) -> dict[str, list[dict]]:
        """The example rows as plain lists (what ``build_examples`` wraps in Datasets)."""
        if not len(train):
            raise DataError(f"{train.corpus}/{train.split}: no training dialogues")
        self.prepare(train)
        assert self.catalog is not None
        db = self.database(train)
        acts = train.extras.get("dialog_acts")
        gold = {d.dialogue_id: gold_turns(d, self.catalog, db, dialog_acts=acts,
                                          argument_order=self.prompt.argument_order,
                                          call_style=self.prompt.call_style)
                for d in train}
        self.inventory = action_inventory(self.catalog, gold.values())
        rows = build_task_rows(
            train, self.catalog, db, self.inventory, self.prompt, seed=seed, gold=gold,
            tasks=self.tasks,
        )
        if self.value_swap_copies and seed is not None:
            rows["e2e_swap"] = self._swap_rows(train, gold, seed)
        if self.aux_dst.get("enabled"):
            rows["aux_dst"] = self._aux_rows(seed if seed is not None else 0)
        return rows

    def _swap_rows(self, train: DialogueSplit, gold: Mapping[str, Sequence[GoldTurn]],
                   seed: int) -> list[dict[str, Any]]:
        """Value-swapped copies of the e2e conversations (training only)."""
        assert self.catalog is not None and self.inventory is not None
        said = json_safe(SaidValues.from_split(train, categorical=self.value_swap_categorical))
        # their own rngs: turning swaps (or answer shuffles) on leaves every other example as it was
        rng = random.Random(f"value-swaps:{seed}")
        shuffle_rng = random.Random(f"response-shuffle:{seed}")
        pools = answer_pools(gold.values()) if self.response_shuffle else {}
        rows = []
        for dialogue in train:
            turns = gold[dialogue.dialogue_id]
            if self.response_shuffle:
                turns = shuffle_answers(turns, pools, self.response_shuffle, shuffle_rng)
            copies = e2e_swap_conversations(
                turns, self.prompt.prompt_functions(self.catalog, dialogue),
                self.inventory, self.prompt, said, rng, self.value_swap_copies,
                self.catalog.style,
            )
            for number, messages in enumerate(copies):
                rows.append({"task": "e2e_swap", "dialogue_id": f"{dialogue.dialogue_id}#swap{number}",
                             "messages": messages})
        log.info("spectod: %d value-swapped e2e conversations (%d copies asked per dialogue)",
                 len(rows), self.value_swap_copies)
        return rows

    def _aux_rows(self, seed: int) -> list[dict[str, Any]]:
        from tod_lab.data.sgd import read_split

        root = self.aux_dst.get("root")
        if not root or not Path(root).is_dir():
            raise ConfigError(
                "system.aux_dst.root",
                f"auxiliary SGD corpus {root!r} not found",
                "point it at an SGD copy (train/ dev/ test/) or set system.aux_dst.enabled=false",
            )
        split = read_split(root, self.aux_dst.get("split", "train"))
        chosen = select_aux_dialogues(split, int(self.aux_dst.get("max_per_domain", 720)), seed)
        catalog = build_catalog(split.schema, style="sgd", train=split,
                                num_examples=self.num_examples)
        self._key_arguments.update(a.name for spec in catalog for a in spec.arguments)
        rng = random.Random(seed + 1)
        rows = []
        for dialogue in chosen:
            turns = gold_turns(dialogue, catalog, None, argument_order=self.prompt.argument_order,
                               call_style=self.prompt.call_style)
            specs = catalog.select(dialogue.services)
            rows.append(
                {
                    "task": "aux_dst",
                    "dialogue_id": f"aux:{dialogue.dialogue_id}",
                    "messages": dst_conversation(turns, specs, self.prompt, rng),
                }
            )
        log.info("spectod: %d auxiliary SGD DST dialogues (cap %s per domain)", len(rows),
                 self.aux_dst.get("max_per_domain", 720))
        return rows

    # ------------------------------------------------------------------ run
    def eval_subset(self, data: DialogueSplit) -> DialogueSplit:
        if not self.eval_dialogues or self.eval_dialogues >= len(data):
            return data
        ids = sorted(data.dialogue_ids)
        random.Random(self.eval_seed).shuffle(ids)
        return data.subset(ids[: int(self.eval_dialogues)])

    def run(self, data: DialogueSplit, generator: Generator | None, run_dir: Path) -> RunResult:
        if generator is None:
            raise ConfigError("system", "Spec-TOD needs a trained generator (needs_training)")
        run_dir = Path(run_dir)
        if self.catalog is None:
            saved = run_dir / RESOURCES_FILE
            if not saved.is_file():
                raise DataError(
                    "Spec-TOD has no function catalog: build_examples was not called and the "
                    "run dir holds none",
                    file=saved,
                )
            self.load_resources(saved)
        assert self.catalog is not None and self.inventory is not None
        data = self.eval_subset(data)
        out_dir = run_dir / "predictions"
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / RESOURCES_FILE, self.resources_json())
        agent = SpecTODAgent(self.catalog, self.inventory, self.database(data), self.prompt,
                             self.agent_settings)
        predicted = agent.run(data, generator)
        files = {"resources": str(run_dir / RESOURCES_FILE)}
        files["turns"] = str(write_turns(out_dir / "spectod_turns.jsonl", predicted))
        if self.catalog.style == "multiwoz":
            from tod_lab.spectod.scoring import score_multiwoz

            result = score_multiwoz(data, predicted, out_dir, self.catalog,
                                    eval_root=self.eval_root, db_dir=self.db_dir)
        else:
            from tod_lab.spectod.scoring import score_sgd

            result = score_sgd(data, predicted, out_dir, self.catalog,
                               self.train_services or data.schema.service_names)
        result.files.update(files)
        result.details["agent"] = agent.stats.to_json()
        result.details["eval_dialogues"] = len(data)
        return result


def write_turns(path: Path, predicted: Mapping[str, Sequence[PredictedTurn]]) -> Path:
    """One JSON line per predicted turn (inspection / error analysis)."""
    import orjson

    with path.open("wb") as handle:
        for dialogue_id, turns in predicted.items():
            for index, turn in enumerate(turns):
                row = {
                    "dialogue_id": dialogue_id,
                    "turn": index,
                    "user": turn.user,
                    "functions": turn.functions,
                    "calls": [
                        {"function": c.function, "arguments": c.arguments, "count": c.count}
                        for c in turn.record.calls
                    ],
                    "action": turn.record.action,
                    "response": turn.record.response,
                    "state": turn.slots,
                    "intents": turn.intents,
                    "raw": turn.raw,
                }
                handle.write(orjson.dumps(row) + b"\n")
    return path

