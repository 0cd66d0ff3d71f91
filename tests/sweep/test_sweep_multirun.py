"""Real Hydra multiruns of ``python -m tod_lab.sweep.run`` (subprocesses) over a simple
system (``sweep_fake_system.FakeScorer``) through the real pipeline: failure isolation,
kill + resume, W&B offline runs, launchers, Optuna."""

from __future__ import annotations

import csv
import statistics
import struct
from pathlib import Path

import pytest
import yaml
from sweep_fake_system import expected_score
from sweep_helpers import run_sweep, write_mini_sgd

from tod_lab.data.io import read_json

N_DEV = 6  # dev dialogues of the mini corpus


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_mini_sgd(tmp_path / "data")
    return tmp_path


def _jobs(workdir: Path, sweep: str) -> dict[str, Path]:
    jobs = workdir / "outputs" / "sweeps" / sweep / "jobs"
    return {p.name: p for p in sorted(jobs.iterdir())
            if p.is_dir() and not p.name.startswith(".")}  # .submitit/


def _results(workdir: Path, sweep: str) -> list[dict[str, str]]:
    latest = workdir / "outputs" / "sweeps" / sweep / "latest"
    with open(latest / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def wandb_records(path: Path):
    """The records of a W&B ``.wandb`` file (LevelDB-log framing around protobufs)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    block, position, pending = 32768, 7, b""
    while position + 7 <= len(data):
        if block - position % block < 7:  # block trailer: skip to the next block
            position += block - position % block
            continue
        length, kind = struct.unpack("<HB", data[position + 4:position + 7])
        chunk = data[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 0 and length == 0:
            break
        pending += chunk
        if kind in (1, 4):  # FULL or LAST
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def wandb_run(run_dir: Path) -> dict:
    """The one W&B offline run of a job: run record, summary, logged keys, exit code."""
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (log_file,) = offline.glob("run-*.wandb")
    records = list(wandb_records(log_file))
    kinds = {}
    for r in records:
        kinds.setdefault(r.WhichOneof("record_type"), []).append(r)
    summary = {}
    for r in kinds.get("summary", []):
        summary.update({item.key or "/".join(item.nested_key): yaml.safe_load(item.value_json)
                        for item in r.summary.update})
    logged = {item.key or "/".join(item.nested_key) for r in kinds.get("history", [])
              for item in r.history.item}
    exits = kinds.get("exit", [])
    return {"run": kinds["run"][0].run, "summary": summary, "logged": logged,
            "exit_code": exits[0].exit.exit_code if exits else None, "dir": offline}


def test_failing_cell_is_isolated_table_equals_metrics_wandb_offline(workdir: Path) -> None:
    result = run_sweep(["test_grid", "system.fail_fraction=0.1"], workdir, workdir / "data",
                       WANDB_MODE="offline")
    jobs = _jobs(workdir, "test_grid")
    suffix = ",system.fail_fraction=0.1"
    assert sorted(jobs) == sorted(f"data=sgd,data_fraction={f},seed={s}{suffix}"
                                  for f in ("10pct", "100pct") for s in (0, 1))
    for seed in (0, 1):
        failed = read_json(jobs[f"data=sgd,data_fraction=10pct,seed={seed}{suffix}"]
                           / "status.json")
        assert failed["status"] == "failed"
        assert failed["error"] == "RuntimeError: deliberate failure at fraction 0.1"
        assert "Traceback" in failed["traceback"]
    scores = []
    for seed in (0, 1):
        run_dir = jobs[f"data=sgd,data_fraction=100pct,seed={seed}{suffix}"]
        assert read_json(run_dir / "status.json")["status"] == "finished"
        record = read_json(run_dir / "metrics.json")
        assert record["metrics"]["score"] == expected_score(1.0, seed, N_DEV)
        assert record["protocols"]["score"] == "sgd_official+fake_scorer"
        scores.append(record["metrics"]["score"])

    rows = {row["data_fraction"]: row for row in _results(workdir, "test_grid")}
    assert rows["0.1"]["status"] == "failed" and rows["0.1"]["score_mean"] == ""
    assert float(rows["1.0"]["score_mean"]) == pytest.approx(statistics.mean(scores), abs=1e-12)
    assert float(rows["1.0"]["score_std"]) == pytest.approx(statistics.stdev(scores), abs=1e-12)
    markdown = (workdir / "outputs/sweeps/test_grid/latest/results.md").read_text()
    assert "| 10% | 0 1 | failed | failed | failed |" in markdown
    assert "deliberate failure at fraction 0.1" in markdown
    assert "score (main)" in result.stdout and "failed" in result.stdout  # rich table

    # W&B: one offline run per job, grouped by sweep, tagged, final metrics, finished
    for name, run_dir in jobs.items():
        wandb = wandb_run(run_dir)
        assert wandb["run"].run_group == "test_grid"
        assert wandb["run"].display_name == name
        fraction = "0.1" if "10pct" in name else "1.0"
        assert {"system:fake", "sweep:test_grid", f"fraction:{fraction}", "peft:none",
                "model:none", "data:sgd"} <= set(wandb["run"].tags)
        summary = wandb["summary"]
        if "10pct" in name:
            assert summary["status"] == "failed" and "deliberate failure" in summary["error"]
            assert wandb["exit_code"] == 1
            continue
        metrics = read_json(run_dir / "metrics.json")["metrics"]
        assert summary["score"] == metrics["score"] and summary["aux"] == metrics["aux"]
        assert summary["status"] == "finished" and summary["main_metric"] == "score"
        assert wandb["exit_code"] == 0  # wandb.finish() ran for every job
        assert "predictions/_type" in wandb["logged"]  # the predictions table
        (table,) = (wandb["dir"] / "files" / "media" / "table").glob("predictions_*.json")
        content = read_json(table)
        assert content["columns"][:2] == ["dialogue_id", "turn"]
        assert len(content["data"]) == N_DEV  # one row per user turn of the dev split
        assert all(row[-1] is True for row in content["data"])  # gold == predicted here


def test_killed_job_resumes_and_finished_jobs_are_skipped(workdir: Path) -> None:
    marker = workdir / "killed-once"
    args = ["test_grid", "system.kill_fraction=1.0"]
    first = run_sweep(args, workdir, workdir / "data", check=False,
                      FAKE_KILL_MARKER=str(marker), WANDB_MODE="offline")
    assert first.returncode == -9, first.stderr[-3000:]  # SIGKILL took the whole sweep down
    jobs = _jobs(workdir, "test_grid")
    suffix = ",system.kill_fraction=1.0"
    done = [jobs[f"data=sgd,data_fraction=10pct,seed={s}{suffix}"] for s in (0, 1)]
    killed = jobs[f"data=sgd,data_fraction=100pct,seed=0{suffix}"]
    assert len(jobs) == 3  # the 4th job never started
    assert read_json(killed / "status.json")["status"] == "running"
    assert (killed / "checkpoints" / "last.ckpt").is_file()
    finished_mtimes = [(d / "metrics.json").stat().st_mtime_ns for d in done]

    run_sweep(args, workdir, workdir / "data", FAKE_KILL_MARKER=str(marker),
              WANDB_MODE="offline")
    jobs = _jobs(workdir, "test_grid")
    assert len(jobs) == 4
    for run_dir, mtime in zip(done, finished_mtimes, strict=True):  # skipped: untouched
        assert (run_dir / "metrics.json").stat().st_mtime_ns == mtime
        assert (run_dir / "attempts.txt").read_text().splitlines() == ["resumed_from=0"]
    assert (killed / "attempts.txt").read_text().splitlines() == ["resumed_from=0",
                                                                  "resumed_from=5"]
    assert read_json(killed / "metrics.json")["details"]["resumed_from"] == 5
    last = jobs[f"data=sgd,data_fraction=100pct,seed=1{suffix}"]
    assert (last / "attempts.txt").read_text().splitlines() == ["resumed_from=0"]
    for run_dir in [*done, last]:  # skipped jobs opened no second W&B run
        assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert len(list((killed / "wandb").glob("offline-run-*"))) == 2  # killed + resumed
    rows = _results(workdir, "test_grid")
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert [int(row["n_finished"]) for row in rows] == [2, 2]


# ------------------------------------------------------------------ launchers, Optuna


@pytest.mark.slow  # ~30 s each: every worker process imports torch
@pytest.mark.parametrize("launcher", ["parallel", "local"])
def test_launcher_runs_two_jobs_and_collects(workdir: Path, launcher: str) -> None:
    run_sweep(["test_pair", f"hydra/launcher={launcher}", "system.fail_fraction=0.1"],
              workdir, workdir / "data", timeout=400)
    jobs = _jobs(workdir, "test_pair")
    states = {name.split("data_fraction=")[1].split(",")[0]:
              read_json(d / "status.json")["status"] for name, d in jobs.items()}
    assert states == {"10pct": "failed", "100pct": "finished"}
    rows = {row["data_fraction"]: row for row in _results(workdir, "test_pair")}
    assert rows["0.1"]["status"] == "failed"
    assert float(rows["1.0"]["score_mean"]) == expected_score(1.0, 42, N_DEV)
    if launcher == "local":
        assert (workdir / "outputs/sweeps/test_pair/jobs/.submitit").is_dir()


@pytest.mark.slow
def test_optuna_search_maximises_the_main_metric(workdir: Path) -> None:
    run_sweep(["hparams_search=test_optuna"], workdir, workdir / "data")
    jobs = _jobs(workdir, "test_optuna")
    assert len(jobs) == 3
    scores = [read_json(d / "metrics.json")["metrics"]["score"] for d in jobs.values()]
    best = yaml.safe_load((workdir / "outputs/sweeps/test_optuna/jobs/"
                           "optimization_results.yaml").read_text())
    assert best["best_value"] == max(scores)
    for run_dir in jobs.values():
        params = read_json(run_dir / "metrics.json")
        bonus = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
        assert any(o.startswith("system.bonus=") for o in bonus)
        assert params["main_metric"] == "score"
    assert len(_results(workdir, "test_optuna")) == 3


@pytest.mark.slow
def test_real_training_job_killed_mid_training_resumes_from_last_ckpt(tmp_path: Path) -> None:
    """The tiny PyTOD in a one-job sweep: SIGKILL once a checkpoint exists, re-run, and the
    training core resumes from checkpoints/last.ckpt of the same job dir."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sweep_helpers import REPO

    args = [sys.executable, "-m", "tod_lab.sweep.run", "data_efficiency",
            "+experiment=pytod_tiny", "data_fraction=1pct", "peft=lora", "seed=0",
            "hydra/launcher=basic", "logger=csv", "trainer.checkpoint.every_n_steps=2",
            "trainer.lightning.max_steps=12", "trainer.lightning.max_time=null"]
    env = dict(os.environ, TOD_LAB_ROOT=str(tmp_path), TOD_LAB_CACHE=str(tmp_path / "cache"))
    jobs = tmp_path / "outputs" / "sweeps" / "data_efficiency" / "jobs"
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 900
    while not list(jobs.glob("*/checkpoints/last.ckpt")) and time.time() < deadline:
        assert process.poll() is None, "the sweep ended before writing a checkpoint"
        time.sleep(1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    (run_dir,) = [d for d in jobs.iterdir() if d.is_dir()]
    assert read_json(run_dir / "status.json")["status"] == "running"

    rerun = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert read_json(run_dir / "status.json")["status"] == "finished"
    train = read_json(run_dir / "train_metrics.json")
    assert train["resumed_from_step"] >= 2 and train["global_step"] == 12
    assert read_json(run_dir / "metrics.json")["main_metric"] == "joint_goal_accuracy"
