"""Helpers shared by tests (importable as ``lab_testing``; ``conftest`` names collide
between test directories, so tests never import from ``conftest``)."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"
SHARED_DATA = Path(os.environ.get("TOD_LAB_SHARED_DATA", REPO.parent / "shared" / "data"))


def compose_config(overrides: list[str] | None = None, run_dir: Path | None = None) -> DictConfig:
    """Compose conf/config.yaml exactly as ``python -m tod_lab`` would (with hydra keys)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides or []), return_hydra_config=True)
    if run_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(run_dir)
            cfg.hydra.job.num = 0
        # what @hydra.main does: makes ${hydra:...} interpolations resolvable
        HydraConfig.instance().set_config(cfg)
    return cfg
