"""W&B settings from the real logger config (no run is started here; the offline runs
themselves are checked in test_sweep_multirun.py)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf
from sweep_helpers import REPO

from tod_lab.sweep.wandb_glue import init_kwargs, wandb_mode


def test_mode_is_offline_without_a_key(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc from `wandb login`
    assert wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"
    assert wandb_mode("offline") == "offline"  # logger.mode wins


def test_init_kwargs_from_the_logger_config(compose, tmp_path: Path) -> None:
    cfg = compose(["+sweep=data_efficiency", "+experiment=pytod_tiny", "peft=lora",
                   "data_fraction=10pct", "seed=3"], run_dir=tmp_path)
    kwargs = init_kwargs(cfg, tmp_path)
    assert kwargs["group"] == "data_efficiency"
    assert kwargs["job_type"] == "pytod"
    assert set(kwargs["tags"]) == {"system:pytod", "model:t5_tiny", "peft:lora",
                                   "fraction:0.1", "seed:3", "data:toy_3k",
                                   "sweep:data_efficiency"}
    assert kwargs["dir"] == str(tmp_path)
    assert kwargs["config"]["peft"]["method"] == "lora"
    assert "hydra" not in kwargs["config"]
    # a single run (no sweep): grouped by its task name
    single = compose(["+experiment=pytod_tiny", "logger=wandb"], run_dir=tmp_path)
    assert init_kwargs(single, tmp_path)["group"] == "pytod_tiny"


def test_logger_config_instantiates_lightnings_wandb_logger(compose, tmp_path: Path) -> None:
    from hydra.utils import instantiate
    from pytorch_lightning.loggers import WandbLogger

    cfg = compose(["logger=wandb"], run_dir=tmp_path)
    logger = instantiate(cfg.logger)
    assert isinstance(logger, WandbLogger)
    assert logger.save_dir == str(tmp_path)
    assert OmegaConf.select(cfg, "hydra.callbacks.wandb_job._target_").endswith(
        "WandbJobCallback")
    assert (REPO / "conf" / "logger" / "wandb.yaml").is_file()
