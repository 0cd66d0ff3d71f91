"""SGD-X robustness: one system evaluated over the schema variants v1..v5.

The variant dialogues are the original ones renamed through the data layer
(``tod_lab.data.sgd.read_split(..., variant=, sgdx_root=)``); each variant's predictions are
scored with the official SGD evaluator (:func:`tod_lab.eval.sgd.evaluate_sgd`). Reported,
as in the SGD-X paper (Lee et al., 2022):

- ``average_jga``: mean over the variants of the ``#ALL_SERVICES`` joint goal accuracy
  (and of the seen / unseen ones);
- ``schema_sensitivity`` (SS): mean over turns of the coefficient of variation of the
  turn's JGA across the variants, ``CV = std / mean``. A turn's JGA is the product of the
  JGAs of its reference frames (all its services right); the standard deviation is the
  sample one (``ddof=1``, as in the paper's formula); a turn whose JGA is 0 in every
  variant has no variation and counts as CV 0.

API::

    references, seen = load_variant_references(sgd_root, sgdx_root, "test")
    report = evaluate_sgdx(references, {v: predictions_v for v in references}, seen)
    report.average_jga, report.schema_sensitivity, report.reports["v3"].metrics
    report.flat_metrics(), report.protocols()      # protocol "sgdx" for metrics.json
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tod_lab.data.schema_io import read_schema
from tod_lab.data.sgd import read_split, split_dir
from tod_lab.data.sgdx import VARIANTS, SchemaRenaming
from tod_lab.data.types import DialogueSplit
from tod_lab.errors import DataError
from tod_lab.eval.sgd import (
    ALL_SERVICES,
    JOINT_GOAL_ACCURACY,
    NA,
    SEEN_SERVICES,
    UNSEEN_SERVICES,
    PredictionsLike,
    SGDReport,
    evaluate_sgd,
    paused_gc,
)

PROTOCOL = "sgdx"
TurnKey = tuple[str, int]  # (dialogue id, turn index)


def turn_jgas(report: SGDReport) -> dict[TurnKey, float]:
    """Each scored user turn's JGA: the product of its frames' JGAs (NA frames skipped)."""
    turns: dict[TurnKey, float] = {}
    for frame in report.frames:
        jga = frame.metrics.get(JOINT_GOAL_ACCURACY, NA)
        if jga == NA:
            continue
        key = (frame.dialogue_id, frame.turn_index)
        turns[key] = turns.get(key, 1.0) * jga
    return turns


def coefficient_of_variation(values: Iterable[float], *, ddof: int = 1) -> float:
    """``std / mean`` of the values; 0.0 when the mean is 0 (every value 0, nothing varies)."""
    values = list(values)
    if len(values) <= ddof:
        raise ValueError(f"need more than {ddof} values for a standard deviation")
    mean = sum(values) / len(values)
    if mean == 0.0:
        return 0.0
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - ddof)
    return math.sqrt(variance) / mean


def schema_sensitivity(
    turn_scores: Mapping[str, Mapping[TurnKey, float]], *, ddof: int = 1
) -> float:
    """Mean over turns of the CV of the turn's JGA across variants (variant -> turn -> JGA)."""
    variants = list(turn_scores)
    if len(variants) < 2:
        raise ValueError("schema sensitivity needs at least two variants")
    turns = set(turn_scores[variants[0]])
    for variant in variants[1:]:
        if set(turn_scores[variant]) != turns:
            differing = sorted(set(turn_scores[variant]) ^ turns)[:3]
            raise DataError(
                f"variant {variant} scored other turns than {variants[0]} (e.g. {differing})",
                hint="predict the same dialogues for every variant",
            )
    if not turns:
        raise DataError("no scored turns: the predictions are empty")
    return sum(
        coefficient_of_variation((turn_scores[v][turn] for v in variants), ddof=ddof)
        for turn in turns
    ) / len(turns)


@dataclass
class SGDXReport:
    reports: dict[str, SGDReport]  # variant -> official SGD report
    schema_sensitivity: float
    turns: int

    def _average(self, collection: str) -> float | None:
        values = [r.collection(collection).get(JOINT_GOAL_ACCURACY) for r in self.reports.values()]
        if not values or any(not isinstance(v, float) for v in values):
            return None
        return sum(values) / len(values)

    @property
    def average_jga(self) -> float:
        value = self._average(ALL_SERVICES)
        assert value is not None
        return value

    @property
    def jga_by_variant(self) -> dict[str, float]:
        return {v: float(r.all_services[JOINT_GOAL_ACCURACY]) for v, r in self.reports.items()}

    def flat_metrics(self) -> dict[str, float]:
        flat = {"sgdx_average_jga": self.average_jga,
                "sgdx_schema_sensitivity": self.schema_sensitivity}
        for suffix, collection in (("seen", SEEN_SERVICES), ("unseen", UNSEEN_SERVICES)):
            value = self._average(collection)
            if value is not None:
                flat[f"sgdx_average_jga_{suffix}"] = value
        flat.update({f"sgdx_{v}_jga": jga for v, jga in self.jga_by_variant.items()})
        return flat

    def protocols(self) -> dict[str, str]:
        return {name: PROTOCOL for name in self.flat_metrics()}

    def to_json(self) -> dict[str, Any]:
        return {
            "average_jga": self.average_jga,
            "schema_sensitivity": self.schema_sensitivity,
            "turns": self.turns,
            "jga_by_variant": self.jga_by_variant,
            "variants": {v: r.metrics for v, r in self.reports.items()},
        }


def evaluate_sgdx(
    references: Mapping[str, DialogueSplit],
    predictions: Mapping[str, PredictionsLike],
    seen_services: Mapping[str, Iterable[str]],
    *,
    ddof: int = 1,
    **options: Any,
) -> SGDXReport:
    """Score each variant's predictions against its renamed reference; SS across them.

    ``seen_services``: variant -> the variant names of the services seen in training (see
    :func:`load_variant_references`); ``options``: :func:`evaluate_sgd` keyword arguments.
    """
    missing = sorted(set(references) - set(predictions))
    if missing:
        raise DataError(f"no predictions for SGD-X variant(s) {missing}")
    reports = {
        variant: evaluate_sgd(
            references[variant], predictions[variant], seen_services[variant], **options
        )
        for variant in references
    }
    scores = {variant: turn_jgas(report) for variant, report in reports.items()}
    return SGDXReport(
        reports=reports,
        schema_sensitivity=schema_sensitivity(scores, ddof=ddof),
        turns=len(next(iter(scores.values()))),
    )


def load_variant_references(
    sgd_root: str | Path,
    sgdx_root: str | Path,
    split: str,
    variants: Iterable[str] = VARIANTS,
) -> tuple[dict[str, DialogueSplit], dict[str, set[str]]]:
    """Each variant's renamed reference split and its seen services (in variant names).

    Seen is decided on the original names (eval schema ∩ train schema) and mapped through
    the variant's renaming, so it is the same set of services in every variant.
    """
    original = read_schema(split_dir(sgd_root, split) / "schema.json")
    train = read_schema(split_dir(sgd_root, "train") / "schema.json")
    seen_original = set(original.service_names) & set(train.service_names)
    references: dict[str, DialogueSplit] = {}
    seen: dict[str, set[str]] = {}
    for variant in variants:
        renaming = SchemaRenaming.for_split(original, sgdx_root, variant, split)
        with paused_gc():
            references[variant] = read_split(sgd_root, split, variant=variant, sgdx_root=sgdx_root)
        seen[variant] = {renaming.services[name].name for name in seen_original}
    return references, seen


__all__ = [
    "PROTOCOL",
    "SGDXReport",
    "coefficient_of_variation",
    "evaluate_sgdx",
    "load_variant_references",
    "schema_sensitivity",
    "turn_jgas",
]
