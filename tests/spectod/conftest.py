"""Fixtures of the Spec-TOD tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(scope="session")
def toy_source(tmp_path_factory):
    """The embedded toy corpus (conf/data/toy.yaml), generated once per session in a temp dir."""
    cfg = OmegaConf.load(CONF / "data" / "toy.yaml")
    cfg.root = str(tmp_path_factory.mktemp("spectod_toy") / "toy")
    return instantiate(cfg, _convert_="all")


@pytest.fixture(scope="session")
def sgd_dev(sgd_root):
    """Real SGD dev, read once per session (reading it is the slow part of these tests)."""
    from tod_lab.data.sgd import read_split

    return read_split(sgd_root, "dev")


@pytest.fixture(scope="session")
def toy_multiwoz_source(tmp_path_factory):
    """The embedded MultiWOZ-layout toy corpus (conf/data/toy_multiwoz.yaml), with DB,
    dialog_acts.json and mwzeval goals, generated once per session."""
    cfg = OmegaConf.load(CONF / "data" / "toy_multiwoz.yaml")
    cfg.root = str(tmp_path_factory.mktemp("spectod_toy_multiwoz") / "toy")
    return instantiate(cfg, _convert_="all")
