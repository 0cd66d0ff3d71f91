"""Benchmarks: ``make bench`` runs every module here that defines ``run()``.

Each benchmark measures tod_lab against a baseline *in the same process* and prints one
JSON line ``{"name", "ours", "baseline", "unit", "ratio"}`` where ``ratio > 1`` means
tod_lab is better. Results are recorded by hand in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class BenchResult:
    name: str
    ours: float
    baseline: float
    unit: str
    ratio: float
    details: dict[str, Any] | None = None

    def line(self) -> str:
        out = asdict(self)
        if out["details"] is None:
            del out["details"]
        return json.dumps(out, sort_keys=False)


def ratio_higher_is_better(ours: float, baseline: float) -> float:
    return round(ours / baseline, 3) if baseline else float("inf")


def ratio_lower_is_better(ours: float, baseline: float) -> float:
    return round(baseline / ours, 3) if ours else float("inf")
