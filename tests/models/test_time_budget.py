"""``trainer.schedule_by_time``: the LR schedule advances with the max_time budget too."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Timer
from transformers import get_linear_schedule_with_warmup

from tod_lab.errors import ConfigError
from tod_lab.models.modules import TodLanguageModule, time_budgeted


def _linear(total: int = 100, warmup: int = 10):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total)


def _lr_after(steps: int, budget: float | None) -> float:
    optimizer, scheduler = _linear()
    if budget is not None:
        time_budgeted(scheduler, lambda: budget, 100)
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return optimizer.param_groups[0]["lr"]


def test_schedule_follows_the_larger_of_steps_and_time():
    # no time spent: the plain step schedule
    assert _lr_after(20, 0.0) == pytest.approx(_lr_after(20, None))
    # half the time gone after 20 steps: the schedule stands at step 50 of 100
    assert _lr_after(20, 0.5) == pytest.approx(_lr_after(50, None))
    assert _lr_after(20, 0.5) == pytest.approx(50 / 90)
    # the budget spent: the decay has ended whatever the step count
    assert _lr_after(20, 1.0) == 0.0
    # steps ahead of the clock: the steps decide
    assert _lr_after(80, 0.3) == pytest.approx(_lr_after(80, None))


def test_schedule_by_time_needs_a_lambda_schedule():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ConfigError, match="trainer.schedule_by_time"):
        time_budgeted(torch.optim.lr_scheduler.StepLR(optimizer, 10), lambda: 0.0, 100)


def test_budget_used_reads_lightnings_timer():
    module = TodLanguageModule(torch.nn.Linear(1, 1), optimizer_factory=torch.optim.SGD,
                               total_steps=10, schedule_by_time=True)
    timer = Timer(duration={"seconds": 100})
    trainer = pl.Trainer(callbacks=[timer], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    module.trainer = trainer
    assert module.time_budget_used() == 0.0  # not started
    timer._offset = 25.0  # what a resumed run's Timer holds: 25 s trained before
    assert module.time_budget_used() == pytest.approx(0.25)


def test_budget_used_is_zero_without_a_duration():
    module = TodLanguageModule(torch.nn.Linear(1, 1), optimizer_factory=torch.optim.SGD,
                               total_steps=10, schedule_by_time=True)
    trainer = pl.Trainer(callbacks=[Timer(duration=None)], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    module.trainer = trainer
    assert module.time_budget_used() == 0.0  # a Timer with no budget: the steps decide
