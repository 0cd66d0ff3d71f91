"""Run-directory bookkeeping: resolved config, config hash, status, timings, metrics.

Every run (and every job of a sweep) leaves in its run directory:

- ``config.yaml``   the fully resolved config that produced it
- ``status.json``   ``{"status": "running"|"finished"|"failed", "config_hash", "started",
                     "ended", "seconds", "stage_seconds", "error"?}`` — written at the start,
                     so a killed job is visible as ``running`` with no ``ended``
- ``metrics.json``  ``{"metrics": {name: value}, "protocols": {name: protocol},
                     "main_metric", "config_hash", "params": {...}}`` (see ``write_metrics``)

The sweep collector only reads these files.
"""

from __future__ import annotations

import copy
import hashlib
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from omegaconf import DictConfig, OmegaConf

from tod_lab.data.io import read_json, write_json

# Keys that never change what a run computes: excluded from the config hash (dotted paths;
# "trainer.checkpoint" says where to save / resume from, not what is trained).
# ("sweep" holds the sweep's name and table settings: the same cell in two sweeps is the
# same computation.)
HASH_EXCLUDED_KEYS = ("hydra", "paths", "logger", "task_name", "sweep", "trainer.checkpoint")

# The parameters a results table shows for a run (dotted config keys).
TABLE_PARAMS = {
    "system": "system.name",
    "data": "data.name",
    "data_fraction": "data_fraction.fraction",
    "model": "model.name",
    "peft": "peft.method",  # conf/peft/*.yaml name their method here
    "seed": "seed",
}


def resolved_container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, every interpolation resolved (Hydra keys dropped)."""
    container = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    return OmegaConf.to_container(OmegaConf.create(container), resolve=True)  # type: ignore[return-value]


def config_hash(cfg: DictConfig | dict[str, Any]) -> str:
    """A short stable hash of what a run computes (excludes paths, logger, hydra)."""
    data = resolved_container(cfg) if isinstance(cfg, DictConfig) else copy.deepcopy(dict(cfg))
    for dotted in HASH_EXCLUDED_KEYS:
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def table_params(cfg: DictConfig) -> dict[str, Any]:
    return {name: OmegaConf.select(cfg, key, default=None) for name, key in TABLE_PARAMS.items()}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecorder:
    """Writes ``status.json`` through the life of a run; ``stage()`` times each stage."""

    run_dir: Path
    cfg_hash: str
    started: float = field(default_factory=time.time)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def write_status(self, status: str, **extra: Any) -> None:
        record = {
            "status": status,
            "config_hash": self.cfg_hash,
            "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(
                timespec="seconds"
            ),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            **extra,
        }
        if status != "running":
            record["ended"] = now_iso()
            record["seconds"] = round(time.time() - self.started, 3)
        write_json(self.run_dir / "status.json", record)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + (
                time.perf_counter() - begin
            )
            self.write_status("running", stage=name)

    def failed(self, exc: BaseException) -> None:
        self.write_status(
            "failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc))[-8000:],
        )


def write_metrics(
    run_dir: Path,
    metrics: dict[str, float],
    protocols: dict[str, str],
    *,
    main_metric: str | None,
    cfg: DictConfig,
    extra: dict[str, Any] | None = None,
) -> Path:
    """``metrics.json``: every number with its protocol and the config that produced it.

    The record format and its checks (known protocol families, finite numbers, no metric
    under two protocols) are the evaluators' (:mod:`tod_lab.eval.records`); a run adds the
    config hash and the table parameters.
    """
    from tod_lab.eval.records import write_metrics_record

    return write_metrics_record(
        run_dir,
        metrics,
        protocols,
        main_metric=main_metric,
        extra={"config_hash": config_hash(cfg), "params": table_params(cfg), **(extra or {})},
    )


def interrupted_checkpoint(run_dir: Path, cfg_hash: str) -> Path | None:
    """``last.ckpt`` of an unfinished earlier run of the same config beside ``run_dir``.

    Runs of one task live side by side (``outputs/runs/<task>/<timestamp>``), so rerunning a
    command that was killed finds its checkpoint here and continues from it.
    """
    candidates: list[tuple[float, Path]] = []
    for status_path in Path(run_dir).parent.glob("*/status.json"):
        other = status_path.parent
        if other.resolve() == Path(run_dir).resolve():
            continue
        try:
            status = read_json(status_path)
        except Exception:  # noqa: BLE001 - a half-written status of a killed run
            continue
        if status.get("config_hash") != cfg_hash or status.get("status") == "finished":
            continue
        checkpoint = other / "checkpoints" / "last.ckpt"
        if checkpoint.is_file():
            candidates.append((checkpoint.stat().st_mtime, checkpoint))
    return max(candidates)[1] if candidates else None


def read_status(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "status.json"
    return read_json(path) if path.is_file() else None
