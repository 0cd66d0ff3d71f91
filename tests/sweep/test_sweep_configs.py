"""Every sweep definition composes with every launcher, names existing experiments, and
each of its jobs composes (Hydra composition only: nothing runs)."""

from __future__ import annotations

import itertools

import pytest
from omegaconf import OmegaConf
from sweep_helpers import REPO

from tod_lab.sweep.run import available

SWEEPS = available("sweep")
LAUNCHERS = ["basic", "parallel", "local", "slurm", "ray_cluster"]


def _values(spec: str) -> list[str]:
    return [v.strip() for v in str(spec).split(",")]


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_definition_composes_and_its_first_job_too(compose, name: str) -> None:
    cfg = compose([f"+sweep={name}"])
    assert cfg.sweep.name == name
    assert cfg.hydra.sweep.dir.endswith(f"sweeps/{name}/jobs")
    sweep_dirs = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)
    assert sweep_dirs["subdir"] == "${hydra.job.override_dirname}"  # stable per job
    assert "collect_sweep" in cfg.hydra.callbacks
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    assert params, "a sweep without a grid"
    for experiment in _values(params.get("+experiment", "")):
        if experiment:
            assert (REPO / "conf" / "experiment" / f"{experiment}.yaml").is_file(), experiment
    first_job = [f"{key}={_values(spec)[0]}" for key, spec in params.items()]
    job = compose([*first_job, f"+sweep={name}"])
    assert job.sweep.name == name


def test_cells_of_the_default_sweep_compose(compose) -> None:
    params = OmegaConf.to_container(compose(["+sweep=data_efficiency"]).hydra.sweeper.params)
    grid = [_values(spec) for spec in params.values()]
    assert len(list(itertools.product(*grid))) == 24
    for experiment, peft in itertools.product(_values(params["+experiment"]),
                                              _values(params["peft"])):
        job = compose([f"+experiment={experiment}", f"peft={peft}", "data_fraction=1pct",
                       "+sweep=data_efficiency"])
        assert job.peft.method == peft
        assert job.trainer.lightning.max_time == "00:00:00:40"  # the sweep's budget wins
        assert job.data.split == "test" and job.data.test_dialogues == 10


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_every_launcher_composes_with_a_sweep(compose, launcher: str) -> None:
    cfg = compose(["+sweep=peft_methods", f"hydra/launcher={launcher}"])
    target = cfg.hydra.launcher._target_
    expected = {"basic": "BasicLauncher", "parallel": "JoblibLauncher",
                "local": "LocalLauncher", "slurm": "SlurmLauncher",
                "ray_cluster": "RayLauncher"}[launcher]
    assert target.endswith(expected)
    if launcher == "slurm":
        for key in ("partition", "gpus_per_node", "timeout_min", "mem_gb"):
            assert key in cfg.hydra.launcher


def test_optuna_search_composes(compose) -> None:
    cfg = compose(["+hparams_search=pytod_tiny_lr"])
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert cfg.hydra.sweeper.direction == "maximize"
    assert "peft.lr" in cfg.hydra.sweeper.params
    assert cfg.hydra.sweep.dir.endswith("sweeps/hparams_pytod_tiny_lr/jobs")
