"""What a re-run does with a job dir (skip / resume / supersede) and the runner's argv."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tod_lab.errors import ConfigError
from tod_lab.runs import RunRecorder, config_hash, write_metrics
from tod_lab.sweep.job import finished_value, prepare_run_dir
from tod_lab.sweep.run import available, hydra_argv


def _finished_run(run_dir: Path, cfg) -> str:
    run_dir.mkdir(parents=True)
    cfg_hash = config_hash(cfg)
    write_metrics(run_dir, {"jga": 0.75}, {"jga": "sgd_official"}, main_metric="jga", cfg=cfg)
    RunRecorder(run_dir, cfg_hash).write_status("finished")
    return cfg_hash


def test_finished_same_config_is_skipped(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"seed": 1, "model": {"lr": 0.1}})
    cfg_hash = _finished_run(tmp_path / "job", cfg)
    assert prepare_run_dir(tmp_path / "job", cfg_hash) == "skip"
    assert finished_value(tmp_path / "job") == 0.75


def test_sweep_and_logger_keys_do_not_change_the_hash() -> None:
    base = {"seed": 1, "model": {"lr": 0.1}}
    a = config_hash(OmegaConf.create({**base, "sweep": {"name": "a"}, "logger": {"x": 1}}))
    b = config_hash(OmegaConf.create({**base, "sweep": {"name": "b"}}))
    assert a == b
    assert a != config_hash(OmegaConf.create({**base, "seed": 2}))


def test_interrupted_or_failed_run_resumes_in_place(tmp_path: Path) -> None:
    run_dir = tmp_path / "job"
    run_dir.mkdir()
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.ckpt").write_text("step 40")
    RunRecorder(run_dir, "h1").write_status("running", stage="train")
    assert prepare_run_dir(run_dir, "h1") == "resume"
    assert (run_dir / "checkpoints" / "last.ckpt").read_text() == "step 40"
    RunRecorder(run_dir, "h1").failed(RuntimeError("boom"))
    assert prepare_run_dir(run_dir, "h1") == "resume"


def test_changed_config_moves_old_results_aside(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"seed": 1})
    old_hash = _finished_run(tmp_path / "job", cfg)
    (tmp_path / "job" / ".hydra").mkdir()
    (tmp_path / "job" / "checkpoints").mkdir()
    assert prepare_run_dir(tmp_path / "job", "another") == "fresh"
    left = sorted(p.name for p in (tmp_path / "job").iterdir())
    assert left == [".hydra", "superseded"]
    moved = tmp_path / "job" / "superseded" / old_hash
    assert sorted(p.name for p in moved.iterdir()) == ["checkpoints", "metrics.json",
                                                       "status.json"]


def test_empty_dir_is_fresh(tmp_path: Path) -> None:
    assert prepare_run_dir(tmp_path, "h") == "fresh"


def test_runner_argv() -> None:
    assert hydra_argv([]) == ["--multirun", "+sweep=data_efficiency"]
    assert hydra_argv(["peft_methods", "seed=0,1", "logger=csv"]) == [
        "--multirun", "+sweep=peft_methods", "seed=0,1", "logger=csv"]
    assert hydra_argv(["hparams_search=pytod_tiny_lr"]) == [
        "--multirun", "+hparams_search=pytod_tiny_lr"]
    with pytest.raises(ConfigError, match="no sweep named 'nope'.*data_efficiency"):
        hydra_argv(["nope"])


def test_every_sweep_definition_is_listed() -> None:
    names = available("sweep")
    for required in ("data_efficiency", "peft_methods", "paper_spectod", "paper_pytod"):
        assert required in names
    assert "_base" not in names
