"""The demo's summary, table and figure (in-process, over the fast fake-system sweep; the real
demo with the tiny PyTOD / Spec-TOD agents is the slow test at the end)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import REPO, TEST_CONF, sweep_env, write_mini_sgd

from tod_lab.data.io import read_json
from tod_lab.demo import main as demo_main


def test_demo_summary_table_and_plot(tmp_path: Path, monkeypatch, capsys) -> None:
    write_mini_sgd(tmp_path / "data")
    for key, value in sweep_env(tmp_path, tmp_path / "data").items():
        if key.startswith(("TOD_LAB", "WANDB")):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    code = demo_main(["--sweep", "test_pair", f"hydra.searchpath=[file://{TEST_CONF}]",
                      "data=sgd", "system.fail_fraction=0.1"])
    assert code == 1  # one of the two jobs failed on purpose
    latest = tmp_path / "outputs" / "sweeps" / "test_pair" / "latest"
    summary = (latest / "demo_summary.md").read_text()
    finished = next(p for p in (latest.parent / "jobs").glob("*100pct*"))
    score = read_json(finished / "metrics.json")["metrics"]["score"]
    assert f"| score | {score:.4g} |" in summary
    assert "failed: RuntimeError: deliberate failure at fraction 0.1" in summary
    assert (latest / "demo.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "demo summary" in printed and f"{score:.4g}" in printed


@pytest.mark.slow
def test_make_demo_end_to_end(tmp_path: Path) -> None:
    """``python -m tod_lab.demo`` as `make demo` runs it: both tiny agents, <= 15 minutes."""
    env = dict(os.environ, TOD_LAB_ROOT=str(tmp_path), TOD_LAB_CACHE=str(tmp_path / "cache"))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tod_lab.demo"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=15 * 60)
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    latest = tmp_path / "outputs" / "sweeps" / "demo" / "latest"
    for name in ("results.md", "results.csv", "demo_summary.md", "demo.png"):
        assert (latest / name).is_file(), name
    jobs = sorted((latest.parent / "jobs").glob("*experiment=*"))
    assert len(jobs) == 2
    for run_dir in jobs:
        record = read_json(run_dir / "metrics.json")
        assert record["metrics"][record["main_metric"]] >= 0.0
    assert wall < 15 * 60
