"""The LightningModule that trains any of our models (seq2seq or causal, PEFT or full).

Batches come from :mod:`tod_lab.models.datamodule` with ``labels`` already masked
(-100 on padding, and for causal models on every token outside the loss messages), so
one module serves both kinds: the HF model computes the loss from ``labels``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Timer

from tod_lab.errors import ConfigError
from tod_lab.models.datamodule import IGNORE_INDEX

log = logging.getLogger(__name__)

RNG_KEY = "tod_lab_rng"


def _accepts(func: Callable, name: str) -> bool:
    target = getattr(func, "func", func)  # functools.partial from hydra's _partial_
    try:
        return name in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def time_budgeted(scheduler: Any, budget_used: Callable[[], float], total_steps: int) -> None:
    """Make a step schedule advance with the time budget as well as with the steps.

    The schedule is evaluated at ``max(step, budget_used() * total_steps)``: where the
    time limit (``trainer.lightning.max_time``) ends training before ``total_steps``, as
    on a slower or busier machine, the warm-up and decay still end on time instead of
    training stopping at a high learning rate. Where the steps run out first it is the
    plain schedule. Learning rates then depend on wall-clock time, so runs are not
    bit-reproducible: the fixed-time budgets of the tiny experiments opt in
    (``trainer.schedule_by_time``), nothing else does.

    Written here because transformers' and torch's schedules count steps only. Works on
    the ``LambdaLR`` schedules of ``transformers.get_*_schedule_with_warmup``.
    """
    if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        raise ConfigError(
            "trainer.schedule_by_time",
            f"needs a LambdaLR schedule, got {type(scheduler).__name__}",
            "use one of conf/scheduler (transformers.get_*_schedule_with_warmup)",
        )

    def on_budget(step_lambda: Callable[[int], float]) -> Callable[[int], float]:
        def lr_lambda(step: int) -> float:
            by_time = int(min(1.0, budget_used()) * total_steps)
            return step_lambda(max(step, by_time))

        return lr_lambda

    scheduler.lr_lambdas = [on_budget(f) for f in scheduler.lr_lambdas]


class TodLanguageModule(pl.LightningModule):
    """Loss, optimiser / scheduler from config, adapter-only checkpoints, AdaLoRA hook."""

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        optimizer_factory: Callable[..., torch.optim.Optimizer],
        scheduler_factory: Callable[..., Any] | None = None,
        total_steps: int,
        adapter_only_checkpoints: bool = False,
        adalora: bool = False,
        schedule_by_time: bool = False,
    ):
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer_factory
        self.scheduler_factory = scheduler_factory
        self.total_steps = total_steps
        self.adapter_only_checkpoints = adapter_only_checkpoints
        self.adalora = adalora
        self.schedule_by_time = schedule_by_time
        # adapter-only checkpoints hold a subset of the state dict; load them non-strictly
        self.strict_loading = not adapter_only_checkpoints
        self.target_tokens_seen = 0  # label tokens trained on (throughput accounting)
        self.last_train_loss: float | None = None  # kept in checkpoints: a rerun of a
        # finished run reports the same final loss
        self.resumed_from_step = 0  # global step of the checkpoint this run resumed from

    # -- steps -------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]):
        return self.model(**batch)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self(batch).loss
        tokens = int((batch["labels"] != IGNORE_INDEX).sum())
        self.target_tokens_seen += tokens
        self.last_train_loss = float(loss.detach())
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False,
                 batch_size=batch["input_ids"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self(batch).loss
        self.log("val_loss", loss, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=batch["input_ids"].shape[0])
        return loss

    # -- optimisation ------------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return optimizer
        kwargs = {}
        if _accepts(self.scheduler_factory, "num_training_steps"):
            kwargs["num_training_steps"] = self.total_steps
        scheduler = self.scheduler_factory(optimizer, **kwargs)
        if self.schedule_by_time:
            time_budgeted(scheduler, self.time_budget_used, self.total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def time_budget_used(self) -> float:
        """The share of ``max_time`` spent training so far (0 without a time limit).

        Read from Lightning's own Timer callback, whose elapsed time survives a resume."""
        for callback in self.trainer.callbacks:
            if isinstance(callback, Timer):
                elapsed = callback.time_elapsed("train")
                remaining = callback.time_remaining("train")
                if remaining is None:  # a Timer without a duration: no budget to follow
                    continue
                total = elapsed + remaining
                return elapsed / total if total > 0 else 1.0
        return 0.0

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        if self.adalora:
            # AdaLoRA re-allocates ranks from the gradients of this step, so it must run
            # after optimizer.step() and before the gradients are zeroed (Lightning zeroes
            # them at the start of the next step)
            self.model.base_model.update_and_allocate(self.trainer.global_step)

    # -- checkpoints -------------------------------------------------------------------
    def trainable_state_keys(self) -> set[str]:
        return {f"model.{name}" for name, p in self.model.named_parameters() if p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.adapter_only_checkpoints:
            keep = self.trainable_state_keys()
            checkpoint["state_dict"] = {
                k: v for k, v in checkpoint["state_dict"].items() if k in keep
            }
        # Lightning does not restore RNG states; dropout after a resume must draw the same
        # numbers as the uninterrupted run did
        checkpoint[RNG_KEY] = {"torch": torch.get_rng_state(), "last_train_loss": self.last_train_loss}
        if torch.cuda.is_available():
            checkpoint[RNG_KEY]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.resumed_from_step = int(checkpoint.get("global_step", 0))
        state = checkpoint.get(RNG_KEY)
        if state:
            torch.set_rng_state(state["torch"])
            self.last_train_loss = state.get("last_train_loss")
            if "cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])
