"""Every option of every config group composes; the entry points run on real configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab_testing import CONF_DIR, REPO, compose_config
from omegaconf import OmegaConf

# groups that are not selected by a plain `group=option` override
SKIP_GROUPS = {"hydra"}


def group_options() -> list[tuple[str, str]]:
    options = []
    for group_dir in sorted(p for p in CONF_DIR.iterdir() if p.is_dir()):
        if group_dir.name in SKIP_GROUPS:
            continue
        for option in sorted(group_dir.glob("*.yaml")):
            options.append((group_dir.name, option.stem))
    return options


@pytest.mark.parametrize("group, option", group_options())
def test_every_group_option_composes_and_resolves(group, option, tmp_path):
    prefix = "+" if group in {"experiment", "debug", "sweep", "hparams_search"} else ""
    cfg = compose_config([f"{prefix}{group}={option}"], run_dir=tmp_path)
    # everything but hydra's own runtime keys must resolve
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra")
    OmegaConf.to_container(OmegaConf.create(container), resolve=True)


def test_required_groups_exist():
    present = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    assert {"data", "data_fraction", "paths", "debug", "hydra"} <= present


def run_module(module: str, *args: str, cwd: Path, env_extra: dict | None = None):
    env = {**os.environ, "TOD_LAB_ROOT": str(cwd), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.real_data
def test_stats_cli_on_real_sgd_dev(sgd_root, tmp_path):
    proc = run_module(
        "tod_lab.data", "data=sgd", f"data.root={sgd_root}", "data.split=dev",
        f"hydra.run.dir={tmp_path}", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (stats["split"], stats["dialogues"], stats["turns"], stats["user_frames"],
            stats["services"]) == ("dev", 2098, 38768, 20542, 17)
    assert json.loads((tmp_path / "statistics.json").read_text())["dialogues"] == 2098


@pytest.mark.real_data
def test_stats_cli_applies_fraction_and_writes_train_ids(sgd_root, tmp_path):
    proc = run_module(
        "tod_lab.data", "data=sgd", f"data.root={sgd_root}", "data.split=train",
        "data_fraction=1pct", f"hydra.run.dir={tmp_path}", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    ids = (tmp_path / "train_ids.txt").read_text().split()
    assert stats["dialogues"] == len(ids) == round(0.01 * 12174)
    assert stats["dialogues_before_fraction"] == 12174


def test_bad_data_root_is_one_clear_line(tmp_path):
    proc = run_module(
        "tod_lab.data", "data=sgd", f"data.root={tmp_path}/nowhere",
        f"hydra.run.dir={tmp_path}", cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "config key 'data.root'" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_fraction_names_the_config_key(tmp_path, multiwoz_root):
    proc = run_module(
        "tod_lab.data", "data=multiwoz22", f"data.root={multiwoz_root}", "data.split=train",
        "data_fraction.fraction=1.5", f"hydra.run.dir={tmp_path}", cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "config key 'data_fraction.fraction'" in proc.stderr


def test_pipeline_data_stages_on_multiwoz_fixture(tmp_path, multiwoz_root):
    proc = run_module(
        "tod_lab", "data=multiwoz22", f"data.root={multiwoz_root}", "data.split=dev",
        f"hydra.run.dir={tmp_path}", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "data_statistics.json").read_text())
    assert stats["dev"]["dialogues"] == 2
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "finished" and len(status["config_hash"]) == 16
    assert (tmp_path / "config.yaml").is_file()
