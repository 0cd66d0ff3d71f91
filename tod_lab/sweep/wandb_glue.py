"""W&B for every job when ``logger=wandb`` (``conf/logger/wandb.yaml``).

One W&B run per job, owned by :class:`WandbJobCallback` (a Hydra callback, so it works
for single runs and for every launcher — it runs in the process that runs the job):

- ``on_job_start``: ``wandb.init`` with the group (the sweep name), tags (system, model,
  fraction, PEFT, seed, data, sweep), the job's name (its override dirname) and the resolved
  config; ``dir`` is the run dir, so offline runs land in ``<run dir>/wandb/offline-run-*``.
  Lightning's ``WandbLogger`` (the training core instantiates ``cfg.logger``) finds this
  run in progress and logs the training curves (loss, learning rate, validation) into it.
- ``on_job_end``: final metrics (``metrics.json``) and status into the run summary, a
  predictions table (sample dialogues: gold vs predicted state / response), then
  ``wandb.finish`` — every job finishes its run, also in a multirun.

Jobs that a re-run skips (already finished) open no run. Mode: ``logger.mode`` if set, else
``WANDB_MODE``, else ``online`` when an API key is configured (``WANDB_API_KEY`` or
``wandb login``), else ``offline`` — so nothing ever fails for want of an account.
wandb is imported lazily: without ``logger=wandb`` it is never imported.
"""

from __future__ import annotations

import logging
import math
import netrc
import os
import warnings
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from tod_lab.data.io import read_json
from tod_lab.runs import config_hash, read_status, resolved_container

log = logging.getLogger(__name__)

WANDB_HOST = "api.wandb.ai"


def has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(
            os.environ.get("WANDB_BASE_URL", WANDB_HOST).split("//")[-1]) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_mode(explicit: str | None = None) -> str:
    """``explicit`` > ``WANDB_MODE`` > online with an API key > offline."""
    if explicit:
        return explicit
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if has_api_key() else "offline"


def job_name(config: DictConfig, run_dir: Path) -> str:
    overrides = OmegaConf.select(config, "hydra.job.override_dirname", default="")
    return str(overrides or run_dir.name)


def init_kwargs(config: DictConfig, run_dir: Path) -> dict[str, Any]:
    """``wandb.init`` arguments from ``cfg.logger`` (the WandbLogger config)."""
    logger = OmegaConf.to_container(config.logger, resolve=True) if "logger" in config else {}
    assert isinstance(logger, dict)
    return {
        "project": logger.get("project") or "tod_lab",
        "entity": logger.get("entity"),
        "group": logger.get("group"),
        "job_type": logger.get("job_type"),
        "tags": [str(t)[:64] for t in logger.get("tags") or []],  # W&B's tag length limit
        "name": logger.get("name") or job_name(config, run_dir),
        "dir": str(run_dir),
        "mode": wandb_mode(logger.get("mode")),
        "config": resolved_container(config),
    }


def summary_of(run_dir: Path) -> dict[str, Any]:
    """What the run summary gets: every final metric, the status and the timings."""
    summary: dict[str, Any] = {}
    status = read_status(run_dir) or {}
    summary["status"] = status.get("status", "unknown")
    for key in ("seconds", "config_hash", "error"):
        if status.get(key) is not None:
            summary[key] = status[key]
    for stage, seconds in (status.get("stage_seconds") or {}).items():
        summary[f"seconds/{stage}"] = seconds
    metrics_path = run_dir / "metrics.json"
    if summary["status"] == "finished" and metrics_path.is_file():
        record = read_json(metrics_path)
        summary.update({k: v for k, v in record.get("metrics", {}).items()
                        if isinstance(v, int | float) and not math.isnan(float(v))})
        if record.get("main_metric"):
            summary["main_metric"] = record["main_metric"]
    return summary


class WandbJobCallback(Callback):
    def __init__(self, prediction_rows: int = 50) -> None:
        self.prediction_rows = prediction_rows
        self.run: Any = None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.run = None
        run_dir = Path(config.hydra.runtime.output_dir)
        status = read_status(run_dir)
        try:
            same_config = status is not None and status.get("config_hash") == config_hash(config)
        except Exception:  # an unresolvable config: the job itself reports it
            same_config = False
        if same_config and status.get("status") == "finished":
            return  # the sweep skips this job: its W&B run exists already
        import wandb

        # by design: Lightning's WandbLogger logs into the run opened here
        warnings.filterwarnings("ignore", message="There is a wandb run already in progress")
        settings = init_kwargs(config, run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(**settings, reinit="finish_previous")
        log.info("W&B run %s (%s, group %s) in %s", self.run.id, settings["mode"],
                 settings["group"], run_dir / "wandb")

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self.run is None:
            return
        run, self.run = self.run, None
        run_dir = Path(config.hydra.runtime.output_dir)
        summary = summary_of(run_dir)
        run.summary.update(summary)
        if summary["status"] == "finished":
            self._log_predictions(run, config, run_dir)
        run.finish(exit_code=0 if summary["status"] == "finished" else 1)

    def _log_predictions(self, run: Any, config: DictConfig, run_dir: Path) -> None:
        import wandb

        from tod_lab.sweep.predictions import sample_rows

        try:
            columns, rows = sample_rows(run_dir, config, limit=self.prediction_rows)
        except Exception as exc:  # a sample table is a convenience: never fail a job on it
            log.warning("no W&B predictions table for %s: %s", run_dir.name, exc)
            return
        if rows:
            run.log({"predictions": wandb.Table(columns=columns, data=rows)})
