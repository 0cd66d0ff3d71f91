"""Shared fixtures: the real-data root and composing the real Hydra configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"
SHARED_DATA = Path(os.environ.get("TOD_LAB_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``TOD_LAB_SHARED_DATA`` (default ``../shared/data``); skips when it is absent."""
    if not (SHARED_DATA / "sgd" / "train" / "schema.json").is_file():
        pytest.skip(
            f"real corpora not found at {SHARED_DATA} (set TOD_LAB_SHARED_DATA to the "
            "directory holding sgd/, sgd_x/, multiwoz22/)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def sgd_root(shared_data: Path) -> Path:
    return shared_data / "sgd"


@pytest.fixture(scope="session")
def multiwoz_root(tmp_path_factory) -> Path:
    """A tiny MultiWOZ 2.2 corpus in the documented layout (see multiwoz_fixture.py)."""
    from multiwoz_fixture import write_multiwoz_fixture

    return write_multiwoz_fixture(tmp_path_factory.mktemp("multiwoz22"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Runs write caches under a per-session temp dir, never into the checkout."""
    cache = tmp_path_factory.getbasetemp() / "tod_lab_cache"
    monkeypatch.setenv("TOD_LAB_CACHE", str(cache))
    monkeypatch.setenv("WANDB_MODE", os.environ.get("WANDB_MODE", "disabled"))


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


@pytest.fixture
def compose():
    return compose_config
