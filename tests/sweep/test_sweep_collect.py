"""The collector on synthetic run dirs written with the real bookkeeping (tod_lab.runs)."""

from __future__ import annotations

import csv
import math
import os
import statistics
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tod_lab.data.io import read_json
from tod_lab.runs import RunRecorder, config_hash, write_metrics
from tod_lab.sweep.collect import aggregate, collect, format_cell, main, read_job

PROTOCOLS = {"pytod": "sgd_official", "spectod": "mwzeval"}
SYSTEM_METRICS = {"pytod": ("jga", ["jga", "cjga"]), "spectod": ("combined", ["combined",
                                                                            "bleu"])}


def make_cfg(system: str, fraction: float, peft: str, seed: int, experiment: str | None = None):
    return OmegaConf.create({
        "system": {"name": system},
        "model": {"name": "t5_tiny"},
        "peft": {"method": peft},
        "data": {"name": "toy"},
        "data_fraction": {"fraction": fraction},
        "seed": seed,
        "main_metric": None,
        "sweep": {"name": "synthetic"},
    })


def make_job(root: Path, system: str, fraction: float, peft: str, seed: int, *,
             status: str = "finished", overrides: list[str] | None = None) -> Path:
    """A run dir as pipeline.run leaves it; metrics are arbitrary but distinct per job."""
    name = f"system={system},fraction={fraction},peft={peft},seed={seed}"
    run_dir = root / name
    run_dir.mkdir(parents=True)
    cfg = make_cfg(system, fraction, peft, seed)
    OmegaConf.save(cfg, run_dir / "config.yaml")
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.create(overrides or [f"data_fraction={fraction}", f"peft={peft}",
                                                  f"seed={seed}"]),
                   run_dir / ".hydra" / "overrides.yaml")
    recorder = RunRecorder(run_dir, config_hash(cfg))
    if status == "finished":
        main_metric, names = SYSTEM_METRICS[system]
        value = 0.3 + 0.5 * fraction + 0.013 * seed + (0.05 if peft == "lora" else 0.0)
        metrics = {m: round(value / (i + 1), 6) for i, m in enumerate(names)}
        write_metrics(run_dir, metrics, {m: PROTOCOLS[system] for m in names},
                      main_metric=main_metric, cfg=cfg)
        recorder.write_status("finished")
    elif status == "failed":
        try:
            raise RuntimeError(f"CUDA out of memory in {name}")
        except RuntimeError as exc:
            recorder.failed(exc)
    elif status == "running":
        recorder.write_status("running", stage="train")
    return run_dir


@pytest.fixture
def sweep_root(tmp_path: Path) -> Path:
    root = tmp_path / "sweeps" / "synthetic" / "jobs"
    for system in ("pytod", "spectod"):
        for fraction in (0.01, 0.1, 1.0):
            for peft in ("lora", "ia3"):
                for seed in (0, 1, 2):
                    status = "finished"
                    if system == "spectod" and fraction == 0.01 and peft == "ia3":
                        status = "failed"  # a whole cell fails
                    if system == "pytod" and fraction == 1.0 and peft == "ia3" and seed == 2:
                        status = "failed"  # one seed of a cell fails
                    if system == "pytod" and fraction == 0.1 and peft == "ia3" and seed == 1:
                        status = "running"  # killed: never finished
                    make_job(root, system, fraction, peft, seed, status=status)
    return root


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _job_values(root: Path, system: str, fraction: float, peft: str, metric: str) -> list[float]:
    values = []
    for seed in (0, 1, 2):
        run_dir = root / f"system={system},fraction={fraction},peft={peft},seed={seed}"
        status = read_json(run_dir / "status.json")["status"]
        if status == "finished":
            values.append(read_json(run_dir / "metrics.json")["metrics"][metric])
    return values


def test_table_numbers_equal_the_jobs_metrics(sweep_root: Path) -> None:
    collection = collect(sweep_root.parent, timestamp="T1", print_rich=False)
    assert collection.out_dir == sweep_root.parent / "T1"
    rows = _rows(collection.files["results_csv"])
    assert len(rows) == 2 * 3 * 2  # one row per cell, seeds aggregated
    assert collection.table.varied == ["system", "peft", "data_fraction"]
    checked = 0
    for row in rows:
        system, peft, fraction = row["system"], row["peft"], float(row["data_fraction"])
        main_metric, names = SYSTEM_METRICS[system]
        for metric in names:
            values = _job_values(sweep_root, system, fraction, peft, metric)
            if not values:
                assert row["status"] == "failed" and row[f"{metric}_mean"] == ""
                continue
            assert float(row[f"{metric}_mean"]) == pytest.approx(statistics.mean(values),
                                                                 abs=1e-12)
            if len(values) > 1:
                assert float(row[f"{metric}_std"]) == pytest.approx(statistics.stdev(values),
                                                                    abs=1e-12)
            checked += 1
        assert row["main_metric"] == (main_metric if row["status"] != "failed" else "")
        assert int(row["n_finished"]) == len(_job_values(sweep_root, system, fraction, peft,
                                                         main_metric))
    assert checked == 2 * 11  # 11 cells with at least one finished seed, 2 metrics each

    jobs = _rows(collection.files["jobs_csv"])
    assert len(jobs) == 36
    for job in jobs:
        run_dir = Path(job["run_dir"])
        if job["status"] == "finished":
            record = read_json(run_dir / "metrics.json")
            for metric, value in record["metrics"].items():
                assert float(job[metric]) == value


def test_markdown_shows_failures_and_mean_std(sweep_root: Path) -> None:
    collection = collect(sweep_root, timestamp="T2", print_rich=False)
    text = collection.files["results_md"].read_text()
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:5] == ["system", "peft", "data_fraction", "seeds", "status"]
    assert "main metric" in header and "main" in header  # two systems, two main metrics
    cells = {tuple(c.strip() for c in line.strip("|").split("|")[:3]): line
             for line in lines[1:]}
    whole_failure = cells[("spectod", "ia3", "1%")]
    assert "| failed |" in whole_failure and "0.0" not in whole_failure
    assert "1/3 failed" in cells[("pytod", "ia3", "100%")]
    assert "1/3 unfinished" in cells[("pytod", "ia3", "10%")]
    values = _job_values(sweep_root, "pytod", 0.01, "lora", "jga")
    expected = format_cell(statistics.mean(values), statistics.stdev(values), 3)
    assert f"| jga | {expected} |" in cells[("pytod", "lora", "1%")]
    assert "## Failed jobs" in text and "CUDA out of memory" in text
    assert text.count("RuntimeError") == 4  # 3 seeds of the failed cell + 1 seed
    assert "Protocols:" in text and "`jga`: sgd_official" in text and "mwzeval" in text


def test_latest_pointer_and_plot(sweep_root: Path) -> None:
    first = collect(sweep_root, timestamp="T3", print_rich=False)
    latest = sweep_root.parent / "latest"
    assert latest.resolve() == first.out_dir.resolve()
    second = collect(sweep_root, timestamp="T4", print_rich=False)
    assert latest.resolve() == second.out_dir.resolve()
    assert (latest / "results.md").read_text() == second.files["results_md"].read_text()
    png = second.files["plot"]
    assert png.name == "main_metric_vs_data_fraction.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_since_keeps_only_jobs_of_this_multirun(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    old = make_job(root, "pytod", 0.1, "lora", 0)
    past = time.time() - 3600
    os.utime(old / ".hydra" / "overrides.yaml", (past, past))
    make_job(root, "pytod", 0.1, "lora", 1)
    collection = collect(root, out_root=tmp_path / "out", since=time.time() - 60,
                         timestamp="T", print_rich=False, plot=False)
    assert list(collection.table.jobs["seed"]) == [1]


def test_killed_before_start_is_listed_as_missing(tmp_path: Path) -> None:
    run_dir = tmp_path / "jobs" / "peft=lora"
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(["peft=lora", "+experiment=pytod_tiny"]),
                   run_dir / ".hydra" / "overrides.yaml")
    OmegaConf.save(make_cfg("pytod", 0.1, "lora", 0), run_dir / ".hydra" / "config.yaml")
    record = read_job(run_dir)
    assert record.status == "missing"
    assert record.params["peft"] == "lora" and record.params["experiment"] == "pytod_tiny"


def test_override_params_become_columns_and_relabellings_are_dropped(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    for system, experiment in (("pytod", "pytod_tiny"), ("spectod", "spectod_tiny")):
        for lr in ("0.001", "0.0003"):
            make_job(root / lr, system, 0.1, "lora", 0,
                     overrides=[f"experiment={experiment}", f"trainer.lr={lr}"])
    table = aggregate([read_job(d) for d in sorted(root.glob("*/*"))])
    # experiment is a relabelling of system: one of the two is enough
    assert table.varied == ["system", "trainer.lr"]
    assert len(table.cells) == 4


def test_cli_writes_into_given_out_dir(sweep_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "elsewhere"
    assert main([str(sweep_root), "--out", str(out), "--metrics", "jga", "combined"]) == 0
    (collected,) = [p for p in out.iterdir() if p.name != "latest"]
    text = (collected / "results.md").read_text()
    assert "jga" in text and "cjga" not in text.split("## Failed")[0]
    printed = capsys.readouterr().out
    assert "sweep synthetic" in printed and "spectod" in printed


def test_cli_rejects_a_directory_without_runs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2


def test_format_cell() -> None:
    assert format_cell(0.81234, 0.0123456, 3) == "0.8123 ± 0.01235"
    assert format_cell(87.2345, math.nan, 1) == "87.23"
    assert format_cell(math.nan, math.nan, 0) == ""


def test_sweep_table_metrics_choose_the_markdown_columns(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    for seed in (0, 1):
        run_dir = make_job(root, "pytod", 0.1, "lora", seed)
        cfg = OmegaConf.load(run_dir / "config.yaml")
        cfg.sweep.table_metrics = ["cjga"]
        OmegaConf.save(cfg, run_dir / "config.yaml")
    collection = collect(root, out_root=tmp_path / "out", timestamp="T", print_rich=False,
                         plot=False)
    header = collection.files["results_md"].read_text().split("\n| ")[1].split("\n")[0]
    # the main metric always comes first, then the sweep's choice (not every metric)
    assert [c.strip() for c in header.strip(" |").split("|")] == [
        "seeds", "status", "jga (main)", "cjga", "seconds"]


def test_parameters_varied_in_lockstep_both_stay(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    for lr, batch in (("0.001", "8"), ("0.0003", "32")):  # two Optuna trials
        make_job(root / lr, "pytod", 0.1, "lora", 0,
                 overrides=[f"peft.lr={lr}", f"trainer.batch_size={batch}"])
    table = aggregate([read_job(d) for d in sorted(root.glob("*/*"))])
    assert table.varied == ["peft.lr", "trainer.batch_size"]
