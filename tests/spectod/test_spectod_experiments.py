"""Experiment configs compose, carry the paper recipe, and fail fast when inputs are missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tod_lab.spectod.preflight import PreflightError, check_requirements, missing_requirements
from tod_lab.spectod.system import SpecTODSystem

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def _compose(compose):
    """tests/conftest.py's ``compose`` (the real configs, as ``python -m tod_lab`` sees them)."""
    return lambda overrides, run_dir: compose(overrides, run_dir)


@pytest.mark.parametrize(
    ("name", "r", "alpha", "fraction"),
    [("spectod_1pct", 64, 32, 0.01), ("spectod_10pct", 32, 16, 0.1), ("spectod_full", 32, 16, 1.0)],
)
def test_paper_recipes(name, r, alpha, fraction, tmp_path, _compose):
    cfg = _compose([f"+experiment={name}"], tmp_path)
    assert cfg.model.name == "llama3_8b_instruct" and cfg.data.name == "multiwoz22"
    assert cfg.data_fraction.fraction == fraction
    assert cfg.peft.method == "lora" and cfg.peft.lr == 3.0e-4
    assert (cfg.peft.config.r, cfg.peft.config.lora_alpha, cfg.peft.config.lora_dropout) == (r, alpha, 0.05)
    assert list(cfg.peft.target_modules.llama) == ["q_proj", "v_proj"]
    assert cfg.optimizer.weight_decay == 0.01 and cfg.scheduler.num_warmup_steps == 100
    assert "cosine" in cfg.scheduler._target_
    assert cfg.trainer.lightning.max_epochs == 4 and cfg.trainer.lightning.precision == "bf16-mixed"
    assert cfg.trainer.batch_size * cfg.trainer.lightning.accumulate_grad_batches == 4
    assert cfg.trainer.gradient_checkpointing is True and cfg.model.max_length == 4096
    assert cfg.system.aux_dst.enabled is True and cfg.system.aux_dst.max_per_domain == 720
    system = instantiate(cfg.system, _convert_="all")
    assert isinstance(system, SpecTODSystem) and system.model_kind == "causal"


def test_other_model_and_peft_by_override(tmp_path, _compose):
    cfg = _compose(["+experiment=spectod_10pct", "model=qwen2_5_7b_instruct", "peft=qlora"], tmp_path)
    assert cfg.model.name == "qwen2_5_7b_instruct" and cfg.peft.method == "qlora"


def test_preflight_names_the_missing_dialogues_and_weights(tmp_path, monkeypatch, _compose):
    monkeypatch.setenv("TOD_LAB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cfg = _compose(["+experiment=spectod_10pct"], tmp_path)
    problems = missing_requirements(cfg)
    assert len(problems) == 2
    assert "MultiWOZ 2.2 dialogues" in problems[0] and "make data" in problems[0]
    assert "data.root=" in problems[0]
    assert "model weights" in problems[1] and "model.name_or_path=" in problems[1]
    with pytest.raises(PreflightError, match="model=llama_tiny data=toy"):
        check_requirements(cfg)


def test_preflight_passes_with_tiny_overrides(tmp_path, _compose):
    cfg = _compose(["+experiment=spectod_10pct", "model=llama_tiny", "data=toy"], tmp_path)
    assert missing_requirements(cfg) == []


@pytest.mark.slow  # a fresh interpreter importing tod_lab + Hydra: ~10 s
def test_paper_experiment_stops_at_once_from_the_command_line(tmp_path):
    env = dict(os.environ, TOD_LAB_DATA=str(tmp_path / "nowhere"), HF_HUB_OFFLINE="1",
               HF_HOME=str(tmp_path / "hf"), TOD_LAB_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "tod_lab", "+experiment=spectod_10pct",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "MultiWOZ 2.2 dialogues" in output and "model weights" in output
    assert not (tmp_path / "run" / "data_statistics.json").exists()  # stopped before any stage


def test_tiny_experiment_composes_for_both_toy_layouts(tmp_path, _compose):
    cfg = _compose(["+experiment=spectod_tiny"], tmp_path)
    assert cfg.data.name == "toy_multiwoz" and cfg.model.name == "llama_tiny"
    assert cfg.trainer.lightning.max_time == "00:00:09:30"
    assert cfg.system.spec_detail == "functions" and cfg.system.argument_order == "state"
    assert cfg.system.agent.function_choice == "call" and cfg.trainer.batch_size == 2
    # copyable values: the copy head, the user's pieces, a token per argument key
    assert cfg.model.copy_head and cfg.system.spaced_values and cfg.system.call_key_tokens
    cfg = _compose(["+experiment=spectod_tiny", "data=toy"], tmp_path)
    assert cfg.data.name == "toy"
    assert OmegaConf.select(cfg, "system.eval_root") is None  # the corpus root, from the files


def _run_pipeline(overrides, tmp_path, timeout=900):
    env = dict(os.environ, TOD_LAB_CACHE=str(tmp_path / "cache"), WANDB_MODE="disabled")
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "tod_lab", *overrides, f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    return json.loads((run_dir / "metrics.json").read_text()), run_dir


@pytest.mark.slow
def test_tiny_pipeline_on_toy_multiwoz_writes_labelled_e2e_metrics(tmp_path):
    """The whole pipeline (examples -> training -> agent -> mwzeval) in a few minutes."""
    record, run_dir = _run_pipeline(
        ["+experiment=spectod_tiny", "data_fraction.fraction=0.05",
         "trainer.lightning.max_time=null", "trainer.lightning.max_steps=5",
         "system.eval_dialogues=3"], tmp_path)
    for name in ("inform", "success", "bleu", "combined", "jga_mwzeval", "jga_spectod_fnctod"):
        assert name in record["metrics"]
    assert record["protocols"]["combined"] == "mwzeval"
    assert record["protocols"]["jga_spectod_fnctod"] == "spectod_fnctod"
    assert record["main_metric"] == "combined"
    assert (run_dir / "predictions" / "mwz_predictions.json").is_file()
    # the system's argument key tokens reached the trained tokenizer (call_key_tokens)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model" / "tokenizer")
    assert len(tokenizer.tokenize('{"area": "')) == 2  # "{" and the key token
    assert '"area": "' in tokenizer.get_vocab()


@pytest.mark.slow
def test_tiny_pipeline_on_real_sgd_one_percent(tmp_path, sgd_root):
    record, run_dir = _run_pipeline(
        ["+experiment=spectod_tiny", "data=sgd", f"data.root={sgd_root}", "data_fraction=1pct",
         "trainer.lightning.max_time=null", "trainer.lightning.max_steps=5",
         "system.eval_dialogues=2"], tmp_path)
    assert "joint_goal_accuracy" in record["metrics"]
    assert record["protocols"]["joint_goal_accuracy"] == "sgd_official"
    for name in ("action_f1", "bleu_delex"):
        assert name in record["metrics"]
        assert record["protocols"][name] == "spectod_sgd_e2e"
    assert (run_dir / "predictions" / "sgd" / "dialogues_001.json").is_file()
