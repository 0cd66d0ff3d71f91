"""Lightning callbacks of the training core."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

log = logging.getLogger(__name__)


class AdapterExport(pl.Callback):
    """Each time a checkpoint is written, also ``save_pretrained`` the PEFT adapter.

    The Lightning checkpoint is for resuming; this copy loads with plain peft
    (``PeftModel.from_pretrained(base, dirpath)``) while training is still running.
    """

    def __init__(self, dirpath: str | Path):
        self.dirpath = Path(dirpath)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint) -> None:
        model = getattr(pl_module, "model", None)
        if trainer.is_global_zero and model is not None and hasattr(model, "peft_config"):
            model.save_pretrained(str(self.dirpath))


class TrainingTimer(pl.Callback):
    """Wall-clock seconds of the training loop alone (no setup, no export)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.cpu_started = 0.0
        self.seconds = 0.0
        self.cpu_seconds = 0.0  # CPU time of this process: robust to a busy shared machine

    def on_train_start(self, trainer, pl_module) -> None:
        import time

        self.started = time.perf_counter()
        self.cpu_started = time.process_time()

    def on_train_end(self, trainer, pl_module) -> None:
        import time

        if self.started is not None:
            self.seconds = time.perf_counter() - self.started
            self.cpu_seconds = time.process_time() - self.cpu_started
