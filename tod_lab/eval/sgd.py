"""SGD / DSTC8 dialogue-state-tracking metrics with the official evaluator's semantics.

The numbers equal those of google-research ``schema_guided_dst/evaluate.py`` +
``metrics.py`` to the last digit (same frame scores, same aggregation order, numpy's
``mean`` / ``prod`` wherever the official code uses them on fractional values); C-JGA is
added as one extra metric key. Semantics: ``../shared/reference/evaluation.md``.

Library API (what systems call)::

    from tod_lab.eval.sgd import evaluate_sgd, load_predictions

    report = evaluate_sgd(reference_split, predicted_dialogues, train_schema)
    report.metrics["#ALL_SERVICES"]["joint_goal_accuracy"]     # official layout
    report.metrics["#UNSEEN_SERVICES"]["consistent_joint_goal_accuracy"]
    report.frames[0].metrics                                    # per-frame scores
    report.flat_metrics(), report.protocols()                   # for metrics.json

- ``reference``: a :class:`DialogueSplit` (its schema is the eval schema) or a mapping
  ``{dialogue_id: Dialogue}`` together with ``eval_schema=``.
- ``predictions``: dialogues in the SGD format (the reference dialogues with predicted
  ``state`` in the user frames): an iterable of :class:`Dialogue`, a mapping id -> Dialogue,
  or a :class:`PredictionSet` from :func:`load_predictions` (a directory of
  ``*.json`` / ``*.json.gz`` files, lists of dialogues or ``{id: dialogue}`` objects).
  Partial predictions are allowed (a subset of the reference dialogues); metrics are
  aggregated in the order of the predictions, as the official evaluator does.
- ``train_schema``: the train split's :class:`Schema` (or the set of seen service names):
  a service is *seen* when it is in both the eval schema and the train schema.
- ``joint_acc_across_turn=True``: joint metrics multiplied across the frames of a turn
  (MultiWOZ style); ``use_fuzzy_match=False``: exact match for non-categorical values.
- ``score_slot_tagging``: ``None`` (official) scores slot tagging for every hypothesis
  frame that has a ``slots`` key — frames loaded from files without one are skipped;
  :class:`Frame` objects always have ``slots`` (``to_json`` writes it), so they are scored.
  ``False`` never scores it (systems that predict no spans), ``True`` always.

From files: ``evaluate_prediction_dir(data_dir, "test", prediction_dir, **options)`` reads
the reference like the official script (``read_reference``: lean, unvalidated; pass
``validate_reference=True`` for the data layer's validating ``read_split``), the train
schema and the predictions, and returns ``(report, prediction_set)``;
``write_official_outputs`` writes the two official files.

Mismatched predictions raise :class:`~tod_lab.errors.DataError` naming the dialogue (and
file and turn where known): unknown dialogue id, different services set, number of turns,
speaker or USER utterance, a missing predicted frame or state, malformed slot values.
Where the official script would crash (a missing key, an empty value list) or silently
change the numbers (duplicate dialogue ids: last one wins; fewer predicted turns: zip
truncates), tod_lab stops with such an error instead; on valid inputs the numbers are
the official ones.

C-JGA (tod_lab's definition, the PyTOD paper gives none): for the reference frames of one
service in one dialogue, in turn order, ``C-JGA(frame_k) = prod_{j <= k} JGA(frame_j)`` — a
frame scores only if every earlier frame of that service was right too. It is a frame
metric (``consistent_joint_goal_accuracy``) aggregated exactly like JGA (also multiplied
across a turn's frames with ``joint_acc_across_turn``).

CLI (the official flags, so existing users can switch)::

    python -m tod_lab.eval.sgd --dstc8_data_dir D --eval_set dev|test --prediction_dir P \\
        --output_metric_file F [--joint_acc_across_turn] [--nouse_fuzzy_match] [--run_dir R]

writes ``F`` (``{collection: {metric: value}}``, sorted keys), ``P/dialogues_and_metrics.json``
(the predictions with per-frame ``metrics``), optionally ``R/metrics.json`` (protocol
``sgd_official``), and prints a summary table.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tod_lab.data.io import read_json, write_json
from tod_lab.data.types import USER, Dialogue, DialogueSplit, Frame, Schema, SlotSpan, State, Turn
from tod_lab.errors import DataError
from tod_lab.eval.fuzzy import noncat_slot_value_match

# ------------------------------------------------------------------ names (official keys)

ALL_SERVICES = "#ALL_SERVICES"
SEEN_SERVICES = "#SEEN_SERVICES"
UNSEEN_SERVICES = "#UNSEEN_SERVICES"
PER_FRAME_OUTPUT_FILENAME = "dialogues_and_metrics.json"
NA = "NA"  # a frame metric with nothing to score; left out of every average

ACTIVE_INTENT_ACCURACY = "active_intent_accuracy"
SLOT_TAGGING_F1 = "slot_tagging_f1"
SLOT_TAGGING_PRECISION = "slot_tagging_precision"
SLOT_TAGGING_RECALL = "slot_tagging_recall"
REQUESTED_SLOTS_F1 = "requested_slots_f1"
REQUESTED_SLOTS_PRECISION = "requested_slots_precision"
REQUESTED_SLOTS_RECALL = "requested_slots_recall"
AVERAGE_GOAL_ACCURACY = "average_goal_accuracy"
AVERAGE_CAT_ACCURACY = "average_cat_accuracy"
AVERAGE_NONCAT_ACCURACY = "average_noncat_accuracy"
JOINT_GOAL_ACCURACY = "joint_goal_accuracy"
JOINT_CAT_ACCURACY = "joint_cat_accuracy"
JOINT_NONCAT_ACCURACY = "joint_noncat_accuracy"
# tod_lab's extra key (see the module docstring)
CONSISTENT_JOINT_GOAL_ACCURACY = "consistent_joint_goal_accuracy"

JOINT_METRICS = (
    JOINT_GOAL_ACCURACY,
    JOINT_CAT_ACCURACY,
    JOINT_NONCAT_ACCURACY,
    CONSISTENT_JOINT_GOAL_ACCURACY,
)
# The metrics a summary (table, metrics.json) shows, for all / seen / unseen services.
SUMMARY_METRICS = (
    JOINT_GOAL_ACCURACY,
    CONSISTENT_JOINT_GOAL_ACCURACY,
    AVERAGE_GOAL_ACCURACY,
    ACTIVE_INTENT_ACCURACY,
    REQUESTED_SLOTS_F1,
)
SUMMARY_COLLECTIONS = {"": ALL_SERVICES, "seen": SEEN_SERVICES, "unseen": UNSEEN_SERVICES}

PROTOCOL = "sgd_official"

MetricValue = float | str  # a float, or NA
FrameMetrics = dict[str, MetricValue]


def protocol_name(*, joint_acc_across_turn: bool = False, use_fuzzy_match: bool = True) -> str:
    """``sgd_official`` plus the non-default options, so numbers never mix silently."""
    name = PROTOCOL
    if joint_acc_across_turn:
        name += "+across_turn"
    if not use_fuzzy_match:
        name += "+exact_match"
    return name


# ------------------------------------------------------------------ exact numpy arithmetic


def _mean(values: list[float]) -> float:
    """``float(np.mean(values))`` — computed without numpy when that is provably identical.

    With only 0.0 / 1.0 scores the sum is an exact integer in any summation order, and
    numpy divides it by the count exactly like Python does; fractional (fuzzy) scores go
    through numpy so the pairwise summation order is numpy's own.
    """
    ones = values.count(1.0)
    if ones + values.count(0.0) == len(values):
        return ones / len(values)
    return float(np.mean(values))


def _prod(values: list[float]) -> float:
    """``float(np.prod(values))`` — without numpy when the result cannot depend on order.

    Any 0.0 factor gives 0.0 (all scores are finite and non-negative); multiplying by 1.0 is
    exact, so one fractional factor among ones is the product. Two or more fractional
    factors go through numpy in the original (schema) order.
    """
    if 0.0 in values:
        return 0.0
    fractional = [v for v in values if v != 1.0]
    if not fractional:
        return 1.0
    if len(fractional) == 1:
        return fractional[0]
    return float(np.prod(values))


def compute_f1(reference: Sequence[Any], hypothesis: Sequence[Any]) -> tuple[float, float, float]:
    """Counter-based (f1, precision, recall); an empty denominator gives 1.0 (official).

    The shortcuts give exactly what the general formula gives: equal lists (empty or not)
    -> 1.0 everywhere; nothing predicted -> precision 1.0, recall 0.0, F1 0.0; nothing
    expected -> precision 0.0, recall 1.0, F1 0.0.
    """
    if reference == hypothesis:
        return 1.0, 1.0, 1.0
    if not hypothesis:
        return 0.0, 1.0, 0.0
    if not reference:
        return 0.0, 0.0, 1.0
    ref = Counter(reference)
    hyp = Counter(hypothesis)
    true_positive = sum((ref & hyp).values())
    precision = true_positive / len(hypothesis) if hypothesis else 1.0
    recall = true_positive / len(reference) if reference else 1.0
    if precision + recall > 0.0:
        f1 = 2.0 * precision * recall / (precision + recall)
    else:  # both zero: F1 is defined as 0
        f1 = 0.0
    return f1, precision, recall


# ------------------------------------------------------------------ services


@dataclass(frozen=True)
class ServiceSpec:
    """What scoring needs of one eval-schema service, precomputed once."""

    name: str
    slots: tuple[tuple[str, bool], ...]  # (slot name, is_categorical) in schema order
    noncategorical: frozenset[str]
    collections: tuple[str, ...]  # ALL, the service, its domain, SEEN or UNSEEN
    kinds: Mapping[str, bool] = field(default_factory=dict)  # slot -> is_categorical
    has_categorical: bool = False
    has_noncategorical: bool = False

    @classmethod
    def build(cls, service, seen: bool) -> ServiceSpec:
        return cls(
            name=service.name,
            slots=tuple((s.name, s.is_categorical) for s in service.slots),
            noncategorical=frozenset(s.name for s in service.slots if not s.is_categorical),
            collections=(
                ALL_SERVICES,
                service.name,
                service.name.split("_")[0],
                SEEN_SERVICES if seen else UNSEEN_SERVICES,
            ),
            kinds={s.name: s.is_categorical for s in service.slots},
            has_categorical=any(s.is_categorical for s in service.slots),
            has_noncategorical=any(not s.is_categorical for s in service.slots),
        )


def service_specs(eval_schema: Schema, seen_services: Iterable[str]) -> dict[str, ServiceSpec]:
    seen = set(seen_services)
    return {s.name: ServiceSpec.build(s, s.name in seen) for s in eval_schema.services}


def seen_service_names(eval_schema: Schema, train_schema: Schema | Iterable[str]) -> set[str]:
    """Services in both the eval schema and the train schema (the official definition)."""
    train = train_schema.service_names if isinstance(train_schema, Schema) else train_schema
    return set(eval_schema.service_names) & set(train)


# ------------------------------------------------------------------ one frame


class _FrameError(Exception):
    """A frame-level problem; the caller turns it into a DataError naming the dialogue."""


def _first_value(values: Sequence[Any], slot: str) -> Any:
    if not values:
        raise _FrameError(f"predicted slot {slot!r} has an empty value list")
    return values[0]


def goal_accuracies(
    ref_values: Mapping[str, Sequence[str]],
    hyp_values: Mapping[str, Sequence[str]],
    spec: ServiceSpec,
    *,
    use_fuzzy_match: bool = True,
) -> FrameMetrics:
    """Average and joint goal accuracies of one frame over every slot of the service.

    Per schema slot: both present -> categorical exact on the first values, non-categorical
    best fuzzy score over the reference values (first predicted value only); one side only
    -> 0.0; neither -> 1.0. Averages are over reference-active slots, joints are products.

    Only the slots present on either side are scored (a slot absent from both scores 1.0,
    the identity of a product); the full schema-ordered lists are rebuilt only when numpy
    has to reduce fractional scores in the official order (see :func:`_mean`, :func:`_prod`).
    Names that are not slots of the service are ignored, as the official evaluator does.
    """
    kinds = spec.kinds
    scored: dict[str, float] = {}
    for name, ref in ref_values.items():
        categorical = kinds.get(name)
        if categorical is None:
            continue
        hyp = hyp_values.get(name)
        if hyp is None:
            scored[name] = 0.0
        elif categorical:
            if not ref:
                raise _FrameError(f"reference slot {name!r} has an empty value list")
            scored[name] = 1.0 if ref[0] == _first_value(hyp, name) else 0.0
        else:
            scored[name] = noncat_slot_value_match(
                ref, _first_value(hyp, name), fuzzy=use_fuzzy_match
            )
    for name in hyp_values:
        if name not in ref_values and name in kinds:
            scored[name] = 0.0  # predicted, not in the reference
    for score in scored.values():
        if score != 1.0 and score != 0.0:
            break
    else:
        return _binary_goal_accuracies(spec, scored, ref_values)
    return {
        AVERAGE_GOAL_ACCURACY: _active_mean(spec, scored, ref_values, None),
        AVERAGE_CAT_ACCURACY: _active_mean(spec, scored, ref_values, True),
        AVERAGE_NONCAT_ACCURACY: _active_mean(spec, scored, ref_values, False),
        JOINT_GOAL_ACCURACY: _joint(spec, scored, None) if spec.slots else NA,
        JOINT_CAT_ACCURACY: _joint(spec, scored, True) if spec.has_categorical else NA,
        JOINT_NONCAT_ACCURACY: _joint(spec, scored, False) if spec.has_noncategorical else NA,
    }


def _binary_goal_accuracies(
    spec: ServiceSpec, scored: Mapping[str, float], ref_values: Mapping[str, Any]
) -> FrameMetrics:
    """:func:`goal_accuracies` when every score is 0.0 or 1.0, in one pass over the scores.

    Then every product is 0.0 or 1.0 and every mean is (number of ones) / (number of
    slots): integer arithmetic that no summation order can change.
    """
    kinds = spec.kinds
    active = [0, 0]  # reference-active slots: [non-categorical, categorical]
    ones = [0, 0]  # ... of which scored 1.0
    zero = [False, False]  # some slot of the kind scored 0.0
    for name, score in scored.items():
        kind = 1 if kinds[name] else 0
        if score == 0.0:
            zero[kind] = True
        if name in ref_values:
            active[kind] += 1
            if score == 1.0:
                ones[kind] += 1
    n_active = active[0] + active[1]
    return {
        AVERAGE_GOAL_ACCURACY: (ones[0] + ones[1]) / n_active if n_active else NA,
        AVERAGE_CAT_ACCURACY: ones[1] / active[1] if active[1] else NA,
        AVERAGE_NONCAT_ACCURACY: ones[0] / active[0] if active[0] else NA,
        JOINT_GOAL_ACCURACY: (0.0 if zero[0] or zero[1] else 1.0) if spec.slots else NA,
        JOINT_CAT_ACCURACY: (0.0 if zero[1] else 1.0) if spec.has_categorical else NA,
        JOINT_NONCAT_ACCURACY: (0.0 if zero[0] else 1.0) if spec.has_noncategorical else NA,
    }


def _active_mean(
    spec: ServiceSpec,
    scored: Mapping[str, float],
    ref_values: Mapping[str, Any],
    categorical: bool | None,
) -> MetricValue:
    """Mean score over the reference-active slots (of one kind); NA when there are none."""
    kinds = spec.kinds
    values = [
        score
        for name, score in scored.items()
        if name in ref_values and (categorical is None or kinds[name] == categorical)
    ]
    if not values:
        return NA
    ones = values.count(1.0)
    if ones + values.count(0.0) == len(values):
        return ones / len(values)  # == np.mean (see _mean)
    return _mean(
        [
            scored[name]
            for name, cat in spec.slots
            if name in ref_values and (categorical is None or cat == categorical)
        ]
    )


def _joint(spec: ServiceSpec, scored: Mapping[str, float], categorical: bool | None) -> float:
    """Product of the scores of every schema slot (of one kind); absent-both slots are 1.0."""
    kinds = spec.kinds
    values = [
        score
        for name, score in scored.items()
        if categorical is None or kinds[name] == categorical
    ]
    if 0.0 in values:
        return 0.0
    fractional = [v for v in values if v != 1.0]
    if not fractional:
        return 1.0
    if len(fractional) == 1:
        return fractional[0]
    return _prod(
        [
            scored.get(name, 1.0)
            for name, cat in spec.slots
            if categorical is None or cat == categorical
        ]
    )


def _tagged_values(spans: Iterable[SlotSpan], utterance: str, noncat: frozenset[str]) -> list:
    tagged = []
    for span in spans:
        if span.slot in noncat:
            if span.start is None or span.exclusive_end is None:
                raise _FrameError(f"slot span of {span.slot!r} has no start / exclusive_end")
            tagged.append((span.slot, utterance[span.start : span.exclusive_end]))
    return tagged


def score_frame(
    ref: Frame,
    hyp: Frame,
    utterance: str,
    spec: ServiceSpec,
    *,
    use_fuzzy_match: bool = True,
    score_slot_tagging: bool = True,
) -> FrameMetrics:
    """Every official frame metric of one reference frame against its predicted frame."""
    if ref.state is None:
        raise _FrameError(f"reference frame of {spec.name} has no state")
    if hyp.state is None:
        raise _FrameError(f"predicted frame of {spec.name} has no state")
    ref_state, hyp_state = ref.state, hyp.state
    f1, precision, recall = compute_f1(ref_state.requested_slots, hyp_state.requested_slots)
    metrics: FrameMetrics = {
        ACTIVE_INTENT_ACCURACY: 1.0 if ref_state.active_intent == hyp_state.active_intent else 0.0,
        REQUESTED_SLOTS_F1: f1,
        REQUESTED_SLOTS_PRECISION: precision,
        REQUESTED_SLOTS_RECALL: recall,
    }
    if score_slot_tagging:
        f1, precision, recall = compute_f1(
            _tagged_values(ref.slots, utterance, spec.noncategorical),
            _tagged_values(hyp.slots, utterance, spec.noncategorical),
        )
        metrics[SLOT_TAGGING_F1] = f1
        metrics[SLOT_TAGGING_PRECISION] = precision
        metrics[SLOT_TAGGING_RECALL] = recall
    metrics.update(
        goal_accuracies(
            ref_state.slot_values, hyp_state.slot_values, spec, use_fuzzy_match=use_fuzzy_match
        )
    )
    return metrics


# ------------------------------------------------------------------ predictions


@dataclass
class PredictionSet:
    """Predicted dialogues read from files, in file order, with what scoring needs.

    The parsed JSON is not kept (it is most of the memory, and every object kept alive is
    one more for the garbage collector to scan); :func:`per_frame_dialogues` reads the
    files again to write ``dialogues_and_metrics.json`` with every predicted field. ``raw``
    may hold dialogues' JSON given by a caller. ``frames_without_spans`` lists
    ``(dialogue_id, turn_index, service)`` of predicted frames whose JSON has no ``slots``
    key (not slot-tagged).
    """

    dialogues: dict[str, Dialogue]
    files: dict[str, str] = field(default_factory=dict)  # dialogue id -> file
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    frames_without_spans: set[tuple[str, int, str]] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.dialogues)


def prediction_files(path: str | Path, *, exclude: Iterable[str | Path] = ()) -> list[Path]:
    """``*.json`` / ``*.json.gz`` files of a prediction directory (or the one file given).

    Sorted by name, like the official evaluator's glob; ``dialogues_and_metrics.json`` (the
    evaluator's own output), ``schema.json`` (so a split directory itself can be scored)
    and the ``exclude`` paths (e.g. the metric file) are skipped.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(
            "prediction directory not found", file=path, hint="pass --prediction_dir DIR"
        )
    skipped = {Path(p).resolve() for p in exclude}
    files = [
        p
        for p in sorted(path.iterdir())
        if p.is_file()
        and (p.name.endswith(".json") or p.name.endswith(".json.gz"))
        and p.name.removesuffix(".gz") not in (PER_FRAME_OUTPUT_FILENAME, "schema.json")
        and p.resolve() not in skipped
    ]
    if not files:
        raise DataError(
            "no *.json or *.json.gz prediction files in the directory",
            file=path,
            hint="write the predicted dialogues there in the SGD format (lists of dialogues)",
        )
    return files


def _lean_frame(obj: Any) -> Frame:
    """A user frame with only the fields DST scoring reads (no actions)."""
    state = obj.get("state")
    if state is not None:
        slot_values = {}
        for slot, values in state["slot_values"].items():
            if values.__class__ is not list:
                raise TypeError(
                    f"slot_values[{slot!r}] of service {obj['service']} must be a list of "
                    f"values, got {type(values).__name__}"
                )
            slot_values[slot] = tuple(values)
        state = State(state["active_intent"], tuple(state["requested_slots"]), slot_values)
    spans = obj.get("slots")
    return Frame(
        obj["service"],
        (),
        tuple([SlotSpan(s["slot"], s["start"], s["exclusive_end"]) for s in spans]) if spans else (),
        state,
    )


def _lean_dialogue(
    obj: Any, dialogue_id: str, without_spans: set[tuple[str, int, str]]
) -> Dialogue:
    turns = []
    for index, turn in enumerate(obj["turns"]):
        speaker = turn["speaker"]
        if speaker == USER:
            raw_frames = turn["frames"]
            frames = tuple([_lean_frame(f) for f in raw_frames])
            for f in raw_frames:
                if "slots" not in f:
                    without_spans.add((dialogue_id, index, f["service"]))
            turns.append(Turn(speaker, turn["utterance"], frames))
        else:
            turns.append(Turn(speaker, turn["utterance"]))
    return Dialogue(dialogue_id, tuple(obj["services"]), tuple(turns))


def _entries(data: Any, path: Path) -> Iterator[tuple[str, Any]]:
    if isinstance(data, list):
        for index, obj in enumerate(data):
            if not isinstance(obj, dict) or "dialogue_id" not in obj:
                raise DataError(f"entry {index} is not a dialogue with a dialogue_id", file=path)
            yield obj["dialogue_id"], obj
    elif isinstance(data, dict):  # {dialogue_id: dialogue}, as dialogues_and_metrics.json
        for dialogue_id, obj in data.items():
            if not isinstance(obj, dict) or obj.get("dialogue_id", dialogue_id) != dialogue_id:
                raise DataError(
                    "value is not the dialogue of its key", file=path, dialogue_id=dialogue_id
                )
            yield dialogue_id, obj
    else:
        raise DataError(
            "expected a JSON list of dialogues or an object {dialogue_id: dialogue}", file=path
        )


def _load_dialogue_files(files: Iterable[Path], role: str) -> PredictionSet:
    """Dialogues of SGD JSON files, kept lean (see :func:`_lean_frame`), in file order."""
    result = PredictionSet(dialogues={})
    with paused_gc():
        for file in files:
            for dialogue_id, obj in _entries(read_json(file), file):
                if dialogue_id in result.dialogues:
                    raise DataError(
                        f"duplicate {role} dialogue (also in {result.files[dialogue_id]})",
                        file=file,
                        dialogue_id=dialogue_id,
                    )
                try:
                    dialogue = _lean_dialogue(obj, dialogue_id, result.frames_without_spans)
                except (KeyError, TypeError, AttributeError) as exc:
                    detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
                    raise DataError(
                        f"malformed {role} dialogue ({detail})",
                        file=file,
                        dialogue_id=dialogue_id,
                        hint="dialogues use the SGD format (turns with speaker, utterance, "
                        "frames; user frames with service and state)",
                    ) from exc
                result.dialogues[dialogue_id] = dialogue
                result.files[dialogue_id] = str(file)
    return result


def load_predictions(path: str | Path, *, exclude: Iterable[str | Path] = ()) -> PredictionSet:
    """Read predicted dialogues from a directory of ``*.json[.gz]`` files (or one file)."""
    return _load_dialogue_files(prediction_files(path, exclude=exclude), "predicted")


def read_reference(dstc8_data_dir: str | Path, eval_set: str, *, validate: bool = False) -> DialogueSplit:
    """The reference split of an SGD data dir, as the official evaluator reads it.

    By default the ``dialogues_*.json[.gz]`` files (``tod_lab.data.io.dialogue_files`` /
    ``read_json``) are turned into lean dialogues — speakers, utterances and user-frame
    states and spans, no actions — without schema validation, like the official evaluator;
    that is ~2.5x faster than the full reader. ``validate=True`` reads the split with
    :func:`tod_lab.data.sgd.read_split` (full objects, every dialogue validated).
    """
    from tod_lab.data.io import dialogue_files
    from tod_lab.data.schema_io import read_schema
    from tod_lab.data.sgd import read_split, split_dir

    if validate:
        with paused_gc():
            return read_split(dstc8_data_dir, eval_set)
    directory = split_dir(dstc8_data_dir, eval_set)
    schema = read_schema(directory / "schema.json")
    files = dialogue_files(directory)
    if not files:
        raise DataError("no dialogues_*.json(.gz) files in split directory", file=directory)
    loaded = _load_dialogue_files(files, "reference")
    return DialogueSplit(
        corpus="sgd",
        split=eval_set,
        schema=schema,
        dialogues=tuple(loaded.dialogues.values()),
        files=tuple(str(f) for f in files),
    )


PredictionsLike = PredictionSet | Mapping[str, Dialogue] | Iterable[Dialogue]


def _as_prediction_set(predictions: PredictionsLike) -> PredictionSet:
    if isinstance(predictions, PredictionSet):
        return predictions
    if isinstance(predictions, Mapping):
        return PredictionSet(dialogues=dict(predictions))
    dialogues: dict[str, Dialogue] = {}
    for dialogue in predictions:
        if dialogue.dialogue_id in dialogues:
            raise DataError("duplicate predicted dialogue", dialogue_id=dialogue.dialogue_id)
        dialogues[dialogue.dialogue_id] = dialogue
    return PredictionSet(dialogues=dialogues)


# ------------------------------------------------------------------ report


@dataclass(frozen=True, slots=True)
class FrameScore:
    """The metrics of one reference frame (turn x service) of a USER turn."""

    dialogue_id: str
    turn_index: int  # index in the dialogue's turns (system turns counted), as the official
    user_turn: int  # 0-based position among the dialogue's user turns
    service: str
    metrics: FrameMetrics

    @property
    def frame_id(self) -> str:
        """The official per-frame key ``{dialogue_id}-{turn:03d}-{service}``."""
        return f"{self.dialogue_id}-{self.turn_index:03d}-{self.service}"


@dataclass
class SGDReport:
    """The official metric collections plus every frame's scores."""

    metrics: dict[str, dict[str, MetricValue]]  # collection -> metric -> value
    frames: list[FrameScore]
    joint_acc_across_turn: bool = False
    use_fuzzy_match: bool = True
    dialogues: int = 0

    @property
    def protocol(self) -> str:
        return protocol_name(
            joint_acc_across_turn=self.joint_acc_across_turn, use_fuzzy_match=self.use_fuzzy_match
        )

    def collection(self, name: str) -> dict[str, MetricValue]:
        return self.metrics.get(name, {})

    @property
    def all_services(self) -> dict[str, MetricValue]:
        return self.collection(ALL_SERVICES)

    @property
    def seen(self) -> dict[str, MetricValue]:
        return self.collection(SEEN_SERVICES)

    @property
    def unseen(self) -> dict[str, MetricValue]:
        return self.collection(UNSEEN_SERVICES)

    def flat_metrics(self, names: Iterable[str] = SUMMARY_METRICS) -> dict[str, float]:
        """``{metric, metric_seen, metric_unseen: value}`` for metrics.json and sweeps."""
        flat: dict[str, float] = {}
        for suffix, collection in SUMMARY_COLLECTIONS.items():
            values = self.collection(collection)
            for name in names:
                value = values.get(name)
                if isinstance(value, float):
                    flat[f"{name}_{suffix}" if suffix else name] = value
        return flat

    def protocols(self, names: Iterable[str] | None = None) -> dict[str, str]:
        return {name: self.protocol for name in (names or self.flat_metrics())}

    def frame_metrics_by_id(self) -> dict[str, FrameMetrics]:
        return {f.frame_id: f.metrics for f in self.frames}


# ------------------------------------------------------------------ evaluation


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects.

    Reading a split allocates millions of dicts / tuples and none of them form cycles; with
    the collector running, its repeated full scans cost ~2x the parsing itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _reference_by_id(reference: DialogueSplit | Mapping[str, Dialogue]) -> dict[str, Dialogue]:
    if isinstance(reference, DialogueSplit):
        return reference.by_id()
    return dict(reference)


def _check_dialogue_pair(ref: Dialogue, hyp: Dialogue, file: str | None) -> None:
    def fail(problem: str, turn: int | None = None, hint: str | None = None) -> DataError:
        hint = hint or "predictions copy the reference dialogues of the evaluated split"
        return DataError(
            problem,
            file=file,
            dialogue_id=ref.dialogue_id,
            turn=turn,
            hint=f"{hint} (check --eval_set / the reference split)",
        )

    if set(ref.services) != set(hyp.services):
        raise fail(
            f"set of services differs from the reference: predicted {sorted(hyp.services)}, "
            f"reference {sorted(ref.services)}"
        )
    if len(ref.turns) != len(hyp.turns):
        raise fail(
            f"{len(hyp.turns)} predicted turns, the reference has {len(ref.turns)}",
            hint="copy every reference turn and fill in the predicted user-frame states",
        )
    for index, (ref_turn, hyp_turn) in enumerate(zip(ref.turns, hyp.turns, strict=True)):
        if ref_turn.speaker != hyp_turn.speaker:
            raise fail(
                f"speaker {hyp_turn.speaker!r} differs from the reference {ref_turn.speaker!r}",
                index,
            )
        if ref_turn.speaker == USER and ref_turn.utterance != hyp_turn.utterance:
            raise fail(
                f"USER utterance differs from the reference: {hyp_turn.utterance!r} vs "
                f"{ref_turn.utterance!r}",
                index,
            )


def evaluate_sgd(
    reference: DialogueSplit | Mapping[str, Dialogue],
    predictions: PredictionsLike,
    train_schema: Schema | Iterable[str],
    *,
    eval_schema: Schema | None = None,
    joint_acc_across_turn: bool = False,
    use_fuzzy_match: bool = True,
    score_slot_tagging: bool | None = None,
) -> SGDReport:
    """Score predicted dialogues against the reference with the official DSTC8 semantics.

    See the module docstring for the arguments. Returns the official collections
    (``#ALL_SERVICES``, each service, each domain, ``#SEEN_SERVICES`` /
    ``#UNSEEN_SERVICES``) with C-JGA added, and every frame's scores in evaluation order.
    """
    if eval_schema is None:
        if not isinstance(reference, DialogueSplit):
            raise TypeError("evaluate_sgd: pass eval_schema= with a mapping of reference dialogues")
        eval_schema = reference.schema
    specs = service_specs(eval_schema, seen_service_names(eval_schema, train_schema))
    prediction_set = _as_prediction_set(predictions)
    with paused_gc():
        ref_by_id = _reference_by_id(reference)
        unknown = [d for d in prediction_set.dialogues if d not in ref_by_id]
        if unknown:
            first = unknown[0]
            raise DataError(
                f"predicted dialogue is not in the reference ({len(unknown)} unknown ids, "
                f"e.g. {unknown[:3]})",
                file=prediction_set.files.get(first),
                dialogue_id=first,
                hint="predict dialogues of the evaluated split only (check --eval_set)",
            )
        frames = _score_frames(
            ref_by_id,
            prediction_set,
            specs,
            use_fuzzy_match=use_fuzzy_match,
            score_slot_tagging=score_slot_tagging,
        )
        metrics = aggregate(frames, specs, joint_acc_across_turn=joint_acc_across_turn)
    return SGDReport(
        metrics=metrics,
        frames=frames,
        joint_acc_across_turn=joint_acc_across_turn,
        use_fuzzy_match=use_fuzzy_match,
        dialogues=len(prediction_set),
    )


def _score_frames(
    ref_by_id: Mapping[str, Dialogue],
    prediction_set: PredictionSet,
    specs: Mapping[str, ServiceSpec],
    *,
    use_fuzzy_match: bool,
    score_slot_tagging: bool | None,
) -> list[FrameScore]:
    frames: list[FrameScore] = []
    without_spans = prediction_set.frames_without_spans
    for dialogue_id, hyp in prediction_set.dialogues.items():
        ref = ref_by_id[dialogue_id]
        file = prediction_set.files.get(dialogue_id)
        _check_dialogue_pair(ref, hyp, file)
        consistent: dict[str, float] = {}  # service -> product of its JGAs so far (C-JGA)
        user_turn = -1
        for index, (ref_turn, hyp_turn) in enumerate(zip(ref.turns, hyp.turns, strict=True)):
            if ref_turn.speaker != USER:
                continue
            user_turn += 1
            hyp_frames = {f.service: f for f in hyp_turn.frames}  # the last one wins (official)
            for ref_frame in ref_turn.frames:
                service = ref_frame.service
                hyp_frame = hyp_frames.get(service)
                spec = specs.get(service)
                try:
                    if hyp_frame is None:
                        raise _FrameError(f"no predicted frame for service {service}")
                    if spec is None:
                        raise _FrameError(f"service {service} is not in the eval schema")
                    tag = (
                        score_slot_tagging
                        if score_slot_tagging is not None
                        else (dialogue_id, index, service) not in without_spans
                    )
                    metrics = score_frame(
                        ref_frame,
                        hyp_frame,
                        ref_turn.utterance,
                        spec,
                        use_fuzzy_match=use_fuzzy_match,
                        score_slot_tagging=tag,
                    )
                except _FrameError as err:
                    raise DataError(str(err), file=file, dialogue_id=dialogue_id, turn=index) from None
                jga = metrics[JOINT_GOAL_ACCURACY]
                if jga == NA:
                    metrics[CONSISTENT_JOINT_GOAL_ACCURACY] = NA
                else:  # one step of consistency.consistent_chain, kept inline for speed
                    chained = consistent.get(service, 1.0) * jga
                    consistent[service] = chained
                    metrics[CONSISTENT_JOINT_GOAL_ACCURACY] = chained
                frames.append(FrameScore(dialogue_id, index, user_turn, service, metrics))
    return frames


def aggregate(
    frames: Sequence[FrameScore],
    specs: Mapping[str, ServiceSpec],
    *,
    joint_acc_across_turn: bool = False,
) -> dict[str, dict[str, MetricValue]]:
    """Mean of every frame metric per collection, over the values in the official order.

    The official evaluator appends each frame's non-NA values to the lists of the frame's
    collections in frame order and takes ``np.mean`` of each list. numpy's pairwise
    summation depends on that order, so each list is rebuilt in exactly that order (a
    boolean mask over the frames keeps their order) before the same ``np.mean``. A metric
    with no value in a collection is absent from it, as in the official output.

    With ``joint_acc_across_turn`` a joint metric's list holds one value per turn instead:
    the product (left to right, from 1.0) of the turn's frame values in that collection.
    """
    if not frames:
        return {}
    metric_names = list(dict.fromkeys(name for f in frames for name in f.metrics))
    service_index = {name: i for i, name in enumerate(specs)}
    frame_service = np.fromiter(
        (service_index[f.service] for f in frames), dtype=np.int64, count=len(frames)
    )
    members: dict[str, list[int]] = {}  # collection -> indices of its services
    for name, spec in specs.items():
        for collection in spec.collections:
            members.setdefault(collection, []).append(service_index[name])
    # one float column per metric, NaN where the frame's value is NA (or absent)
    table = np.array([[f.metrics.get(m, NA) for m in metric_names] for f in frames], dtype=object)
    table[table == NA] = np.nan
    table = table.astype(np.float64)
    columns = {metric: table[:, j] for j, metric in enumerate(metric_names)}
    per_turn = _per_turn_joint_values(frames, specs) if joint_acc_across_turn else {}
    result: dict[str, dict[str, MetricValue]] = {}
    for collection, services in members.items():
        mask = np.isin(frame_service, services)
        if not mask.any():
            continue
        by_metric: dict[str, MetricValue] = {}
        for metric in metric_names:
            if joint_acc_across_turn and metric in JOINT_METRICS:
                turn_values = per_turn.get(collection, {}).get(metric)
                if turn_values:
                    by_metric[metric] = float(np.mean(turn_values))
                continue
            column = columns[metric][mask]  # a new contiguous array, frames in order
            column = column[~np.isnan(column)]
            if column.size:
                by_metric[metric] = float(np.mean(column))
        result[collection] = by_metric
    return result


def _per_turn_joint_values(
    frames: Sequence[FrameScore], specs: Mapping[str, ServiceSpec]
) -> dict[str, dict[str, list[float]]]:
    """collection -> joint metric -> one product per turn (turns in frame order)."""
    values: dict[str, dict[str, list[float]]] = {}
    turn: dict[str, dict[str, float]] = {}
    current: tuple[str, int] | None = None

    def flush() -> None:
        for collection, products in turn.items():
            by_metric = values.setdefault(collection, {})
            for metric, product in products.items():
                by_metric.setdefault(metric, []).append(product)
        turn.clear()

    for frame in frames:
        if (frame.dialogue_id, frame.turn_index) != current:
            flush()
            current = (frame.dialogue_id, frame.turn_index)
        for collection in specs[frame.service].collections:
            for metric in JOINT_METRICS:
                value = frame.metrics.get(metric, NA)
                if value != NA:
                    products = turn.setdefault(collection, {})
                    products[metric] = products.get(metric, 1.0) * value
    flush()
    return values


def evaluate_prediction_dir(
    dstc8_data_dir: str | Path,
    eval_set: str,
    prediction_dir: str | Path,
    *,
    exclude: Iterable[str | Path] = (),
    validate_reference: bool = False,
    **options: Any,
) -> tuple[SGDReport, PredictionSet]:
    """What the official CLI does: read ``{dir}/{eval_set}``, the train schema and the
    prediction files, then :func:`evaluate_sgd` (``options``: its keyword arguments)."""
    from tod_lab.data.schema_io import read_schema
    from tod_lab.data.sgd import split_dir

    def read_and_score() -> tuple[SGDReport, PredictionSet]:
        reference = read_reference(dstc8_data_dir, eval_set, validate=validate_reference)
        train_schema = read_schema(split_dir(dstc8_data_dir, "train") / "schema.json")
        predictions = load_predictions(prediction_dir, exclude=exclude)
        return evaluate_sgd(reference, predictions, train_schema, **options), predictions

    # One pause for the whole evaluation (a collection after each stage would traverse
    # every object built so far); the reference is freed before the collector resumes.
    with paused_gc():
        return read_and_score()


# ------------------------------------------------------------------ outputs


def per_frame_dialogues(prediction_set: PredictionSet, report: SGDReport) -> dict[str, Any]:
    """The predictions as ``{dialogue_id: dialogue}`` with each scored frame's ``metrics``.

    This is the official ``dialogues_and_metrics.json`` content: the predicted dialogues as
    they were written (read again from their files; ``to_json()`` for predictions given as
    objects), each scored frame with the frame metrics added.
    """
    raw: dict[str, Any] = dict(prediction_set.raw)
    for file in dict.fromkeys(prediction_set.files.values()):
        for dialogue_id, obj in _entries(read_json(file), Path(file)):
            if prediction_set.files.get(dialogue_id) == file:
                raw.setdefault(dialogue_id, obj)
    out: dict[str, Any] = {}
    for dialogue_id, dialogue in prediction_set.dialogues.items():
        out[dialogue_id] = raw.get(dialogue_id) or dialogue.to_json()
    for frame in report.frames:
        turn = out[frame.dialogue_id]["turns"][frame.turn_index]
        matching = [f for f in turn["frames"] if f["service"] == frame.service]
        matching[-1]["metrics"] = frame.metrics  # the frame that was scored (last wins)
    return out


def write_official_outputs(
    report: SGDReport,
    prediction_set: PredictionSet,
    output_metric_file: str | Path,
    per_frame_file: str | Path | None,
) -> None:
    """The official evaluator's two files: aggregated metrics and per-frame dialogues.

    The metric file is written with the standard ``json`` module exactly as the official
    evaluator formats it (indent 2, sorted keys, Python float repr); the large per-frame
    file goes through orjson.
    """
    import json

    path = Path(output_metric_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.metrics, indent=2, separators=(",", ": "), sort_keys=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    if per_frame_file is not None:
        try:
            write_json(per_frame_file, per_frame_dialogues(prediction_set, report))
        except OSError as exc:
            raise DataError(
                f"cannot write the per-frame file ({exc.strerror or exc})",
                file=per_frame_file,
                hint="make the prediction dir writable or pass --noper_frame_file",
            ) from exc


__all__ = [
    "ALL_SERVICES",
    "CONSISTENT_JOINT_GOAL_ACCURACY",
    "JOINT_GOAL_ACCURACY",
    "NA",
    "PER_FRAME_OUTPUT_FILENAME",
    "SEEN_SERVICES",
    "UNSEEN_SERVICES",
    "FrameScore",
    "PredictionSet",
    "SGDReport",
    "ServiceSpec",
    "aggregate",
    "compute_f1",
    "evaluate_prediction_dir",
    "evaluate_sgd",
    "goal_accuracies",
    "load_predictions",
    "paused_gc",
    "per_frame_dialogues",
    "prediction_files",
    "read_reference",
    "protocol_name",
    "score_frame",
    "write_official_outputs",
]


def main(argv: list[str] | None = None) -> int:
    """The CLI (``python -m tod_lab.eval.sgd``); see :mod:`tod_lab.eval.sgd_cli`."""
    from tod_lab.eval.sgd_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
