"""``PyTODSystem``: PyTOD behind the pipeline's :class:`tod_lab.systems.System` seam.

Two modes (``system.mode``):

- ``agent`` (default): ``build_examples`` turns the training split into AP + PS examples
  (multitask: both tasks are simply mixed), the pipeline trains the model, ``run`` drives the
  online agent over the evaluation split (or a seeded sample of it, ``system.eval.dialogues``)
  and scores the predictions with the official SGD evaluator, next to two trivial baselines
  on the same dialogues: the *empty* state and the *no-op* agent that carries the previous
  user turn's reference state unchanged.
- ``gold_replay``: no model. Gold programs are written from the annotations, rendered to
  text, parsed and replayed through a fresh runtime; the replayed states are scored the
  same way, and the residual mismatches are listed by category.

The run directory gets ``predictions/dialogues_*.json`` (SGD format), the evaluator's
``sgd_metrics.json`` (``{collection: {metric: value}}``), and per mode
``agent_log.jsonl`` / ``gold_programs.jsonl`` + ``gold_residuals.json``; the pipeline
writes ``metrics.json`` from the returned :class:`RunResult`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

from tod_lab.data.io import write_json
from tod_lab.data.types import Dialogue, DialogueSplit, State
from tod_lab.errors import ConfigError
from tod_lab.pytod.agent import AgentSettings, predicted_dialogue, run_agent
from tod_lab.pytod.examples import ExampleSettings, build_example_datasets
from tod_lab.pytod.gold import build_gold, compare_state, replay
from tod_lab.pytod.prompts import PromptSettings
from tod_lab.pytod.simulator import ApiCatalog, VenueDatabase, backend_for
from tod_lab.systems import Generator, RunResult

log = logging.getLogger(__name__)

MODES = ("agent", "gold_replay")


def _settings(cls, values: Mapping[str, Any] | None, key: str):
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"system.{key}", f"unknown option(s) {unknown}; known: {sorted(known)}")
    return cls(**values)


@dataclass
class EvalSettings:
    dialogues: int | None = None  # a seeded sample of this many dialogues (None: all)
    sample_seed: int = 0
    baselines: bool = True  # empty-state and no-op baselines on the same dialogues
    joint_acc_across_turn: bool | None = None  # None: True for MultiWOZ, False for SGD
    write_log: bool = True


@dataclass
class PyTODSystem:
    name: str = "pytod"
    mode: str = "agent"
    model_kind: str = "seq2seq"
    cache_dir: str | None = None
    prompts: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, Any] = field(default_factory=dict)
    agent: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    train_schema_path: str | None = None  # seen/unseen reference; default: the data's train
    sgdx_root: str | None = None  # SGD-X: where v1..v5 live (the variant's train schema)
    # the Schema Supervisor's own instruction-tuned model (agent.schema_supervisor=model):
    # {"name": <conf/model option, e.g. flan_t5_xl>, "name_or_path": <local dir>}; None: the
    # run's trained model scores the options
    schema_supervisor_model: dict[str, Any] | None = None
    # each argument key with its delimiters one token of a tokenizer trained from scratch
    # ('(city="', ', city="', '.city = "'): a value then follows ONE token naming its slot,
    # which the copy head queries from (Spec-TOD's call_key_tokens, for PyTOD's statements)
    argument_key_tokens: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError("system.mode", f"{self.mode!r} is not one of {MODES}")
        self.agent_settings: AgentSettings = _settings(AgentSettings, self.agent, "agent")
        prompt_values = {
            "execution_feedback": self.agent_settings.execution_feedback,
            "show_say": self.agent_settings.predict_say,
        }
        prompt_values.update({k: v for k, v in (self.prompts or {}).items() if v is not None})
        self.prompt_settings: PromptSettings = _settings(PromptSettings, prompt_values, "prompts")
        example_values = {
            "ps_examples": self.agent_settings.parser_supervisor,
            "say_examples": self.agent_settings.predict_say,
        }
        # null in the config: follow the agent switches (no PS task without the PS, ...)
        example_values.update({k: v for k, v in (self.examples or {}).items() if v is not None})
        self.example_settings: ExampleSettings = _settings(
            ExampleSettings, example_values, "examples"
        )
        self.eval_settings: EvalSettings = _settings(EvalSettings, self.eval, "eval")
        self.last_example_counts = None
        self._key_slots: set[str] = set()  # slot names of the services trained on

    @property
    def needs_training(self) -> bool:
        return self.mode == "agent"

    # ----------------------------------------------------------------- System protocol

    def build_examples(self, train: DialogueSplit, *, seed: int) -> dict[str, Any]:
        started = time.perf_counter()
        datasets, counts = build_example_datasets(
            train,
            seed=seed,
            train=True,
            prompts=self.prompt_settings,
            settings=self.example_settings,
            cache_dir=self.cache_dir,
        )
        self.last_example_counts = counts
        self._key_slots.update(slot.name for service in train.schema.services for slot in service.slots)
        log.info(
            "PyTOD examples from %d dialogues: %d AP (%d user + %d value-swapped + %d say), "
            "%d PS in %.1fs",
            counts.dialogues,
            counts.ap,
            counts.ap_user,
            counts.ap_swapped,
            counts.ap_say,
            counts.ps,
            time.perf_counter() - started,
        )
        return datasets

    def tokenizer_tokens(self) -> tuple[str, ...]:
        """Atomic tokens for the tokenizer (see :mod:`tod_lab.systems`): with
        ``argument_key_tokens``, :func:`argument_key_tokens` of every slot trained on."""
        if not self.argument_key_tokens:
            return ()
        if not self._key_slots:
            raise ConfigError("system.argument_key_tokens",
                              "the argument key tokens are known only after build_examples")
        return tuple(token for slot in sorted(self._key_slots) for token in argument_key_tokens(slot))

    def run(self, data: DialogueSplit, generator: Generator | None, run_dir: Path) -> RunResult:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        data = self._sample(data)
        if self.mode == "gold_replay":
            predictions, details, files = self._gold_replay(data, run_dir)
        else:
            if generator is None:
                raise ConfigError(
                    "system.mode",
                    "the agent needs a trained model, but the pipeline gave no generator",
                    "set model=... (and trainer=...), or use system.mode=gold_replay",
                )
            predictions, details, files = self._agent(data, generator, run_dir)
        return self._score(data, predictions, run_dir, details, files)

    # ----------------------------------------------------------------- modes

    def _sample(self, data: DialogueSplit) -> DialogueSplit:
        n = self.eval_settings.dialogues
        if n is None or n >= len(data):
            return data
        ids = list(data.dialogue_ids)
        random.Random(self.eval_settings.sample_seed).shuffle(ids)
        return data.subset(ids[: int(n)])

    def _gold_replay(self, data: DialogueSplit, run_dir: Path):
        catalog = ApiCatalog.from_schema(data.schema)
        db = VenueDatabase.from_dir(data.extras["db_dir"]) if data.extras.get("db_dir") else None
        predictions: list[Dialogue] = []
        residuals: list[dict[str, Any]] = []
        program_lines: list[bytes] = []
        rejected = 0
        for dialogue in data.dialogues:
            backend = backend_for(dialogue, db)
            gold = build_gold(dialogue, catalog, backend,
                              values_in_new_call=self.example_settings.values_in_new_call,
                              mention_order=self.example_settings.mention_order)
            programs = [(t.turn, "\n".join(t.user), t.say) for t in gold.turns]
            for t in gold.turns:
                program_lines.append(
                    orjson.dumps(
                        {"dialogue_id": dialogue.dialogue_id, "turn": t.turn, "user": t.user,
                         "say": t.say}
                    )
                )
            replayed = replay(dialogue, programs, catalog, backend_for(dialogue, db))
            states = {r.turn: r.states for r in replayed}
            rejected += sum(len(r.rejected) for r in replayed)
            predictions.append(predicted_dialogue(dialogue, states))
            residuals += _residuals(dialogue, states, catalog)
        (run_dir / "gold_programs.jsonl").write_bytes(b"\n".join(program_lines) + b"\n")
        categories: dict[str, int] = {}
        for r in residuals:
            categories[r["category"]] = categories.get(r["category"], 0) + 1
        write_json(run_dir / "gold_residuals.json", {"categories": categories, "slots": residuals})
        details = {
            "mode": "gold_replay",
            "residual_categories": categories,
            "replay_rejected_statements": rejected,
        }
        files = {
            "gold_programs": str(run_dir / "gold_programs.jsonl"),
            "gold_residuals": str(run_dir / "gold_residuals.json"),
        }
        return predictions, details, files

    def _agent(self, data: DialogueSplit, generator: Generator, run_dir: Path):
        started = time.perf_counter()
        result = run_agent(
            data,
            generator,
            settings=self.agent_settings,
            prompts=self.prompt_settings,
            supervisor_generator=self._supervisor_generator(),
        )
        seconds = time.perf_counter() - started
        files: dict[str, str] = {}
        if self.eval_settings.write_log:
            path = run_dir / "agent_log.jsonl"
            path.write_bytes(b"\n".join(orjson.dumps(asdict(x)) for x in result.log) + b"\n")
            files["agent_log"] = str(path)
        details = {
            "mode": "agent",
            "ablations": {
                "execution_feedback": self.agent_settings.execution_feedback,
                "schema_supervisor": self.agent_settings.schema_supervisor,
                "parser_supervisor": self.agent_settings.parser_supervisor,
            },
            "agent_stats": result.stats,
            "agent_seconds": round(seconds, 3),
        }
        if self.last_example_counts is not None:
            details["example_counts"] = asdict(self.last_example_counts)
        return result.predictions, details, files

    def _supervisor_generator(self) -> Generator | None:
        """The configured Schema Supervisor model (zero-shot), built from conf/model."""
        spec = self.schema_supervisor_model
        if not spec or self.agent_settings.schema_supervisor != "model":
            return None
        from omegaconf import OmegaConf

        from tod_lab.cli import CONFIG_PATH
        from tod_lab.models import build_bundle

        name = spec.get("name")
        path = Path(CONFIG_PATH) / "model" / f"{name}.yaml"
        if not name or not path.is_file():
            raise ConfigError(
                "system.schema_supervisor_model.name",
                f"{name!r} is not a model config in {path.parent}",
                "use a conf/model option such as flan_t5_xl",
            )
        model = OmegaConf.load(path)
        if spec.get("name_or_path"):
            model.name_or_path = spec["name_or_path"]
        cfg = OmegaConf.create(
            {"model": model, "peft": {"method": "none"}, "seed": 0,
             "paths": {"cache_dir": self.cache_dir or ".cache/tod_lab"}}
        )
        return build_bundle(cfg, model_kind=model.kind).generator()

    # ----------------------------------------------------------------- scoring

    def _score(
        self,
        data: DialogueSplit,
        predictions: Sequence[Dialogue],
        run_dir: Path,
        details: dict[str, Any],
        files: dict[str, str],
    ) -> RunResult:
        from tod_lab.eval.sgd import evaluate_sgd

        across = self.eval_settings.joint_acc_across_turn
        if across is None:
            across = data.corpus.startswith("multiwoz")
        train_schema = self._train_schema(data)
        predictions_dir = run_dir / "predictions"
        write_json(predictions_dir / "dialogues_001.json", [d.to_json() for d in predictions])
        files["predictions"] = str(predictions_dir)
        options = {"joint_acc_across_turn": across, "score_slot_tagging": False}
        report = evaluate_sgd(data, predictions, train_schema, **options)
        write_json(run_dir / "sgd_metrics.json", report.metrics)
        files["sgd_metrics"] = str(run_dir / "sgd_metrics.json")
        metrics = report.flat_metrics()
        protocols = report.protocols(metrics)
        if self.eval_settings.baselines:
            for name, baseline in (("empty", empty_state), ("noop", previous_state)):
                hyp = [baseline(d) for d in data.dialogues]
                b = evaluate_sgd(data, hyp, train_schema, **options).flat_metrics(
                    ("joint_goal_accuracy",)
                )
                for key, value in b.items():
                    metrics[f"baseline_{name}_{key}"] = value
                    protocols[f"baseline_{name}_{key}"] = report.protocol
        details["dialogues"] = len(predictions)
        details["frames"] = len(report.frames)
        table = metrics_table(metrics, report.protocol, len(predictions), data)
        (run_dir / "metrics_table.md").write_text(table)
        files["metrics_table"] = str(run_dir / "metrics_table.md")
        log.info("\n%s", table)
        return RunResult(
            metrics=metrics,
            protocols=protocols,
            main_metric="joint_goal_accuracy",
            files=files,
            details=details,
        )

    def _train_schema(self, data: DialogueSplit):
        """The schema that decides seen / unseen: the train split's (the variant's for
        SGD-X), found next to the evaluated split; else every service counts as seen."""
        from tod_lab.data.schema_io import read_schema

        if self.train_schema_path:
            return read_schema(self.train_schema_path)
        if data.variant and self.sgdx_root:
            return read_schema(Path(self.sgdx_root) / data.variant / "train" / "schema.json")
        if data.files:
            split_dir = Path(data.files[0]).parent
            candidate = split_dir.parent / "train" / "schema.json"
            if data.corpus.startswith("multiwoz"):
                candidate = split_dir.parent / "schema.json"
            if candidate.is_file() and not data.variant:
                return read_schema(candidate)
        log.warning("no train schema found for %s/%s: every service counts as seen",
                    data.corpus, data.split)
        return data.schema


def argument_key_tokens(slot: str) -> tuple[str, ...]:
    """The three places a slot's value follows its name in a program: first argument of a
    call, a later argument, an attribute assignment (the delimiters keep ``city="`` from
    matching inside ``destination_city="``)."""
    return (f'({slot}="', f', {slot}="', f'.{slot} = "')


def metrics_table(
    metrics: Mapping[str, float], protocol: str, dialogues: int, data: DialogueSplit
) -> str:
    """Markdown: the system's JGA / C-JGA next to the trivial baselines, same dialogues."""
    rows = [("pytod", "")]
    if "baseline_empty_joint_goal_accuracy" in metrics:
        rows += [("empty state (baseline)", "baseline_empty_"),
                 ("no-op: previous state (baseline)", "baseline_noop_")]

    def cell(key: str) -> str:
        value = metrics.get(key)
        return f"{value:.4f}" if isinstance(value, float) else "-"

    lines = [
        f"{data.corpus} {data.split}{' ' + data.variant if data.variant else ''}: "
        f"{dialogues} dialogues, protocol {protocol} (C-JGA: a frame counts only if every "
        "earlier frame of its service in the dialogue was right too)",
        "",
        "| system | JGA | JGA seen | JGA unseen | C-JGA |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, prefix in rows:
        jga = f"{prefix}joint_goal_accuracy"
        cjga = cell("consistent_joint_goal_accuracy") if not prefix else "-"
        lines.append(
            f"| {name} | {cell(jga)} | {cell(jga + '_seen')} | {cell(jga + '_unseen')} | {cjga} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- baselines


def empty_state(dialogue: Dialogue) -> Dialogue:
    """Predict an empty state for every reference frame."""
    return predicted_dialogue(dialogue, {})


def previous_state(dialogue: Dialogue) -> Dialogue:
    """The no-op agent: each frame carries the previous user turn's reference state."""
    last: dict[str, State] = {}
    states: dict[int, dict[str, State]] = {}
    for index, turn in enumerate(dialogue.turns):
        if not turn.is_user:
            continue
        states[index] = dict(last)
        for frame in turn.frames:
            if frame.state is not None:
                last[frame.service] = frame.state
    return predicted_dialogue(dialogue, states)


def _residuals(
    dialogue: Dialogue, states: dict[int, dict[str, State]], catalog: ApiCatalog
) -> list[dict[str, Any]]:
    out = []
    for index, turn in enumerate(dialogue.turns):
        if not turn.is_user:
            continue
        for frame in turn.frames:
            if frame.state is None or frame.service not in catalog.services:
                continue
            have = states.get(index, {}).get(frame.service, State())
            for slot, category, detail in compare_state(
                catalog.services[frame.service], have, frame.state, strict=True
            ):
                out.append(
                    {
                        "dialogue_id": dialogue.dialogue_id,
                        "turn": index,
                        "service": frame.service,
                        "slot": slot,
                        "category": category,
                        "detail": detail,
                    }
                )
    return out


__all__ = ["PyTODSystem", "empty_state", "previous_state"]
