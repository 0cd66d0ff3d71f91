"""One metrics record per evaluation: ``metrics.json`` with every number's protocol.

Layout (the same as the pipeline's ``tod_lab.runs.write_metrics``, which adds
``config_hash`` / ``params`` for runs)::

    {"metrics": {name: value}, "protocols": {name: protocol}, "main_metric": name | null,
     ...extra}

Every metric must name the protocol that produced it, so sweep tables can never mix
numbers of different evaluators silently. Known protocol families:

- ``sgd_official``   the DSTC8 SGD evaluator (``tod_lab.eval.sgd``); options are appended:
  ``sgd_official+across_turn``, ``sgd_official+exact_match``;
- ``mwzeval``        MultiWOZ end-to-end / DST with mwzeval's conventions;
- ``spectod_fnctod`` MultiWOZ DST as Spec-TOD / FnCTOD compute it;
- ``sgdx``           SGD-X robustness (average JGA over v1..v5, schema sensitivity).

Writing into a run dir that already has a record merges the new metrics into it; a metric
already recorded under a *different* protocol is an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tod_lab.data.io import read_json, write_json
from tod_lab.errors import DataError

METRICS_FILENAME = "metrics.json"
# spectod_sgd_e2e: Spec-TOD's end-to-end scores on SGD (action F1 on (act, slot) pairs,
# sacrebleu on delexicalised responses), which the official SGD evaluator does not have
PROTOCOL_FAMILIES = ("sgd_official", "mwzeval", "spectod_fnctod", "sgdx", "spectod_sgd_e2e")


def protocol_family(protocol: str) -> str:
    return protocol.split("+", 1)[0]


def validate_record(metrics: Mapping[str, Any], protocols: Mapping[str, str]) -> None:
    """Every metric is a finite number with a protocol of a known family."""
    missing = sorted(set(metrics) - set(protocols))
    if missing:
        raise ValueError(f"metrics without a protocol: {missing}")
    for name, protocol in protocols.items():
        if protocol_family(protocol) not in PROTOCOL_FAMILIES:
            raise ValueError(
                f"metric {name!r}: unknown protocol {protocol!r}; expected one of "
                f"{PROTOCOL_FAMILIES} (optionally with +options)"
            )
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"metric {name!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} is not finite: {value!r}")


def read_metrics_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The run dir's ``metrics.json`` (``None`` when there is none)."""
    path = Path(run_dir) / METRICS_FILENAME
    if not path.is_file():
        return None
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
        raise DataError("not a metrics record (no 'metrics' object)", file=path)
    return record


def write_metrics_record(
    run_dir: str | Path,
    metrics: Mapping[str, float],
    protocols: Mapping[str, str],
    *,
    main_metric: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write (or merge into) ``run_dir/metrics.json``; returns its path."""
    validate_record(metrics, protocols)
    if main_metric is not None and main_metric not in metrics:
        raise ValueError(f"main metric {main_metric!r} is not among the metrics")
    run_dir = Path(run_dir)
    record = read_metrics_record(run_dir) or {"metrics": {}, "protocols": {}, "main_metric": None}
    old_protocols = record.setdefault("protocols", {})
    for name, protocol in protocols.items():
        if name in metrics and old_protocols.get(name, protocol) != protocol:
            raise DataError(
                f"metric {name!r} is already recorded with protocol {old_protocols[name]!r}, "
                f"not {protocol!r}",
                file=run_dir / METRICS_FILENAME,
                hint="use another run dir (or metric name) for another protocol",
            )
    record["metrics"].update({name: float(value) for name, value in metrics.items()})
    old_protocols.update({name: protocols[name] for name in metrics})
    if main_metric is not None or record.get("main_metric") is None:
        record["main_metric"] = main_metric
    record.update(extra or {})
    return write_json(run_dir / METRICS_FILENAME, record)


__all__ = [
    "METRICS_FILENAME",
    "PROTOCOL_FAMILIES",
    "protocol_family",
    "read_metrics_record",
    "validate_record",
    "write_metrics_record",
]
