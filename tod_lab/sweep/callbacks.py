"""Hydra callbacks of sweeps (registered in ``conf/sweep/_base.yaml``).

:class:`CollectSweepCallback` runs in the launching process when the multirun ends —
whatever the launcher (basic, joblib, submitit, ray) — and collects the jobs this multirun
launched into ``outputs/sweeps/<name>/<timestamp>/`` (:mod:`tod_lab.sweep.collect`).
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from tod_lab.sweep.collect import TIMESTAMP_FORMAT, Collection, collect

log = logging.getLogger(__name__)

_last_collection: Collection | None = None


def last_collection() -> Collection | None:
    """The collection the last multirun of this process wrote (for ``tod_lab.demo``)."""
    return _last_collection


class CollectSweepCallback(Callback):
    def __init__(self, table_metrics: list[str] | None = None, plot: bool = True) -> None:
        self.table_metrics = list(table_metrics or [])
        self.plot = plot
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Every job Hydra launches from now on rewrites its .hydra/overrides.yaml; one second
        # of slack for filesystems with coarse modification times.
        self.started = time.time() - 1.0
        # the sweep's own files (e.g. an Optuna SQLite study) may go next to jobs/ before any
        # job runs
        Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        name = OmegaConf.select(config, "sweep.name", default=None) or sweep_dir.name
        out_root = sweep_dir.parent if sweep_dir.name == "jobs" else sweep_dir
        timestamp = datetime.fromtimestamp((self.started or time.time()) + 1.0).strftime(
            TIMESTAMP_FORMAT)
        if not sweep_dir.is_dir():
            log.warning("sweep %s: no job directory at %s, nothing to collect", name, sweep_dir)
            return
        collection = collect(
            sweep_dir,
            out_root=out_root,
            name=name,
            since=self.started,
            timestamp=timestamp,
            wanted_metrics=self.table_metrics or None,
            plot=self.plot,
        )
        global _last_collection
        _last_collection = collection
        multirun = sweep_dir / "multirun.yaml"
        if multirun.is_file():  # what was launched, next to what came out
            shutil.copy(multirun, collection.out_dir / "multirun.yaml")
        log.info("sweep %s collected into %s", name, collection.out_dir)
