"""Checkpoints and resume: an interrupted run, rerun with the same run dir, ends exactly
where an uninterrupted run ends (same losses, same adapter weights)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]


class CrashAtStep(pl.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


def adapter_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "model" / "adapter" / "adapter_model.safetensors")


def assert_same_run(resumed: Path, reference: Path) -> dict:
    got = json.loads((resumed / "train_metrics.json").read_text())
    want = json.loads((reference / "train_metrics.json").read_text())
    for key in ("global_step", "epochs", "train_loss", "val_loss"):
        assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-7), key
    weights, expected = adapter_weights(resumed), adapter_weights(reference)
    assert weights.keys() == expected.keys()
    for name in weights:
        torch.testing.assert_close(weights[name], expected[name], rtol=1e-5, atol=1e-6)
    return got


def test_crash_then_rerun_matches_uninterrupted_run(train_tiny, tmp_path):
    # 240 examples - 16 held out = 28 batches of 8 per epoch: 40 steps cross an epoch;
    # LoRA dropout is on, so the RNG state must be restored too
    extra = ["trainer.checkpoint.every_n_steps=10", "optimizer.lr=1e-2"]
    train_tiny("t5_tiny", "lora", tmp_path / "straight", steps=40, extra=extra)

    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_tiny("t5_tiny", "lora", crashed, steps=40, extra=extra, callbacks=[CrashAtStep(33)])
    assert not (crashed / "train_metrics.json").exists()
    assert (crashed / "checkpoints" / "last.ckpt").is_file()

    train_tiny("t5_tiny", "lora", crashed, steps=40, extra=extra)  # the same command again
    metrics = assert_same_run(crashed, tmp_path / "straight")
    assert metrics["resumed_from_step"] == 30  # mid second epoch
    # once finished, the same command again trains nothing and reports the same figures
    train_tiny("t5_tiny", "lora", crashed, steps=40, extra=extra)
    assert assert_same_run(crashed, tmp_path / "straight")["resumed_from_step"] == 40
    # checkpoints hold the adapter only, not the frozen base
    state = torch.load(crashed / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert state and all("lora_" in k for k in state)


def cli_command(run_dir: Path, examples: Path, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "tod_lab.models", "model=t5_tiny", "peft=lora", "trainer=cpu",
        f"+examples={examples}", f"hydra.run.dir={run_dir}", "seed=7",
        f"trainer.lightning.max_steps={steps}", "trainer.checkpoint.every_n_steps=10",
        "trainer.lightning.val_check_interval=1000", "trainer.progress_bar=none",
        "trainer.batch_size=8", "trainer.data.val_size=16", "optimizer.lr=1e-2",
        "model.architecture.d_model=64", "model.architecture.d_ff=128",
        "model.architecture.d_kv=16", "model.tokenizer.vocab_size=600",
    ]


@pytest.mark.slow  # three fresh Python processes (~10 s of imports each)
def test_kill_9_then_same_command_matches_uninterrupted_run(tmp_path, booking_rows):
    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(json.dumps(r) + "\n" for r in booking_rows))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOD_LAB_CACHE": str(tmp_path / "cache")}

    straight = tmp_path / "straight"
    subprocess.run(cli_command(straight, examples, 60), cwd=REPO, env=env, check=True,
                   capture_output=True)

    killed = tmp_path / "killed"
    command = cli_command(killed, examples, 60)
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    writes, seen = 0, None
    deadline = time.monotonic() + 300
    while writes < 3 and process.poll() is None and time.monotonic() < deadline:
        stamp = last.stat().st_mtime_ns if last.exists() else None
        if stamp is not None and stamp != seen:
            writes, seen = writes + 1, stamp
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # kill -9: no cleanup, no final checkpoint
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "train_metrics.json").exists(), "the run finished before the kill"

    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    metrics = assert_same_run(killed, straight)
    assert 20 <= metrics["resumed_from_step"] < 60
