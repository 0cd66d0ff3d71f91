"""Shared fixtures: the real-data root, MultiWOZ fixtures, config composition."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_testing import SHARED_DATA, compose_config


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


@pytest.fixture
def compose():
    """``compose(overrides, run_dir)``: the real config as ``python -m tod_lab`` builds it."""
    return compose_config
