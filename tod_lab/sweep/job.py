"""One job of a sweep: skip it when already finished, resume it when interrupted, and keep
its failure from stopping the sweep.

Hydra's multirun stops at the first job that raises (the sweeper reads every
``JobReturn.return_value``, which re-raises the job's exception), and then never calls
``on_multirun_end`` — so no table. The sweep's task function is therefore :func:`run_job`:
it calls :func:`tod_lab.pipeline.run` (which records ``status: failed`` with the error and
traceback in ``status.json`` before re-raising) and turns an exception into a NaN return
value. NaN is what Optuna expects from a failed trial, and the basic sweeper ignores return
values. ``KeyboardInterrupt`` is not caught: Ctrl-C still stops the whole sweep.

Resume: a job's run dir is stable per sweep cell (``hydra.sweep.subdir`` is the override
dirname), so a re-run finds what the previous attempt left there:

- ``status.json`` says ``finished`` with the same config hash  -> skipped; its main metric
  is returned from ``metrics.json`` (so an Optuna study can be re-played too);
- ``running`` (the process was killed) or ``failed`` with the same hash -> run again in the
  same directory; the training core resumes from ``checkpoints/last.ckpt``;
- a different config hash (the config files changed since) -> the old results are moved to
  ``superseded/<old hash>/`` so they are neither reused nor lost, and the job starts fresh.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from tod_lab.data.io import read_json
from tod_lab.errors import TodLabError
from tod_lab.runs import RunRecorder, config_hash, read_status

log = logging.getLogger(__name__)

# What a previous attempt may leave in a run dir that must not leak into a fresh run of a
# different config. Hydra's own files (.hydra/, <job>.log) are rewritten by every attempt.
KEEP_ON_SUPERSEDE = {".hydra", "superseded"}


@dataclass(frozen=True)
class JobOutcome:
    """What :func:`run_job` did, for the W&B job callback (same process)."""

    run_dir: Path
    action: str  # "skipped" | "ran" | "failed"
    value: float | None


_last_outcome: JobOutcome | None = None


def last_outcome() -> JobOutcome | None:
    return _last_outcome


def _set_outcome(run_dir: Path, action: str, value: float | None) -> float | None:
    global _last_outcome
    _last_outcome = JobOutcome(run_dir, action, value)
    return value


def finished_value(run_dir: Path) -> float | None:
    """The main metric a finished run recorded (None for data-only runs)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    record = read_json(path)
    value = record.get("metrics", {}).get(record.get("main_metric"))
    return float(value) if value is not None else None


def supersede(run_dir: Path, old_hash: str) -> Path:
    """Move a previous run of a different config out of the way (nothing is deleted)."""
    target = run_dir / "superseded" / old_hash
    target.mkdir(parents=True, exist_ok=True)
    for entry in run_dir.iterdir():
        if entry.name in KEEP_ON_SUPERSEDE or entry.suffix == ".log":
            continue
        shutil.move(str(entry), str(target / entry.name))
    return target


def prepare_run_dir(run_dir: Path, cfg_hash: str) -> str:
    """Decide what to do with whatever a previous attempt left in ``run_dir``.

    Returns "skip", "resume" or "fresh".
    """
    previous = read_status(run_dir)
    if previous is None:
        return "fresh"
    old_hash = previous.get("config_hash")
    if old_hash != cfg_hash:
        moved = supersede(run_dir, str(old_hash))
        log.warning(
            "config of %s changed (hash %s -> %s): previous results moved to %s",
            run_dir.name, old_hash, cfg_hash, moved,
        )
        return "fresh"
    if previous.get("status") == "finished":
        return "skip"
    return "resume"


def record_failure_if_missing(run_dir: Path, cfg_hash: str, exc: BaseException) -> None:
    """pipeline.run records its own failures; this covers a crash before it could."""
    status = read_status(run_dir)
    if status is None or status.get("status") != "failed":
        RunRecorder(run_dir, cfg_hash).failed(exc)


def run_job(cfg: DictConfig) -> float | None:
    """The task function of every sweep job (see the module docstring)."""
    from hydra.core.hydra_config import HydraConfig

    from tod_lab.pipeline import run

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        cfg_hash = config_hash(cfg)
    except Exception as exc:  # an unresolvable interpolation: a config error of this job
        record_failure_if_missing(run_dir, "unresolved", exc)
        log.error("job %s: config does not resolve: %s", run_dir.name, exc)
        return _set_outcome(run_dir, "failed", math.nan)

    action = prepare_run_dir(run_dir, cfg_hash)
    if action == "skip":
        value = finished_value(run_dir)
        log.info("job %s already finished (config %s): skipped, %s", run_dir.name, cfg_hash,
                 value)
        return _set_outcome(run_dir, "skipped", value)
    if action == "resume":
        log.info("job %s was interrupted: running it again in place (resumes from its last "
                 "checkpoint when there is one)", run_dir.name)
    try:
        value = run(cfg)
    except Exception as exc:
        record_failure_if_missing(run_dir, cfg_hash, exc)
        if isinstance(exc, TodLabError):
            log.error("job %s failed: %s", run_dir.name, exc)
        else:
            log.exception("job %s failed (recorded in %s)", run_dir.name,
                          run_dir / "status.json")
        return _set_outcome(run_dir, "failed", math.nan)
    return _set_outcome(run_dir, "ran", value)
