"""Run-directory bookkeeping: config hash, status, and rerun-resumes-the-killed-run."""

from __future__ import annotations

import json

from lab_testing import compose_config

from tod_lab.pipeline import resume_from_interrupted_run
from tod_lab.runs import RunRecorder, config_hash, interrupted_checkpoint


def fake_run(parent, name, cfg_hash, status, checkpoint=True):
    run = parent / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": status, "config_hash": cfg_hash}))
    if checkpoint:
        (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    return run


def test_config_hash_ignores_paths_and_logger_but_not_what_is_computed(tmp_path):
    base = config_hash(compose_config(["data=toy"], run_dir=tmp_path / "a"))
    assert config_hash(compose_config(["data=toy"], run_dir=tmp_path / "b")) == base
    assert config_hash(compose_config(["data=toy", "paths.log_dir=/elsewhere"],
                                      run_dir=tmp_path / "c")) == base
    assert config_hash(compose_config(["data=toy", "seed=1"], run_dir=tmp_path / "d")) != base
    assert config_hash(compose_config(["data=toy", "data_fraction=10pct"],
                                      run_dir=tmp_path / "e")) != base


def test_rerun_finds_the_interrupted_run_of_the_same_config(tmp_path):
    fake_run(tmp_path, "2026-01-01_10-00-00", "h1", "finished")
    killed = fake_run(tmp_path, "2026-01-01_11-00-00", "h1", "running")
    fake_run(tmp_path, "2026-01-01_12-00-00", "other", "failed")
    fake_run(tmp_path, "2026-01-01_12-30-00", "h1", "failed", checkpoint=False)
    current = tmp_path / "2026-01-01_13-00-00"
    current.mkdir()
    assert interrupted_checkpoint(current, "h1") == killed / "checkpoints" / "last.ckpt"
    assert interrupted_checkpoint(current, "h2") is None


def test_pipeline_points_the_trainer_at_the_interrupted_checkpoint(tmp_path):
    current = tmp_path / "now"
    cfg = compose_config(["data=toy", "+experiment=pytod_tiny"], run_dir=current)
    cfg_hash = config_hash(cfg)
    killed = fake_run(tmp_path, "before", cfg_hash, "running")
    current.mkdir()
    resume_from_interrupted_run(cfg, current, cfg_hash)
    assert cfg.trainer.checkpoint.resume == str(killed / "checkpoints" / "last.ckpt")
    assert config_hash(cfg) == cfg_hash  # where a run resumes from is not what it computes
    # an explicit choice is left alone
    cfg = compose_config(["data=toy", "+experiment=pytod_tiny",
                          "trainer.checkpoint.resume=null"], run_dir=current)
    resume_from_interrupted_run(cfg, current, config_hash(cfg))
    assert cfg.trainer.checkpoint.resume is None


def test_status_records_failure_with_the_error(tmp_path):
    recorder = RunRecorder(tmp_path, "h")
    with recorder.stage("data"):
        pass
    recorder.failed(ValueError("boom"))
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == "ValueError: boom"
    assert "data" in status["stage_seconds"] and "ended" in status
