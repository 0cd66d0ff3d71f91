"""Data parallel on CPU: 2 gloo processes launched by Lightning from the Hydra CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # Lightning re-launches the CLI in a second process (~20-40 s here)
def test_two_process_gloo_ddp_trains_and_exports(tmp_path, booking_rows):
    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(json.dumps(r) + "\n" for r in booking_rows))
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "tod_lab.models", "model=t5_tiny", "peft=lora", "trainer=ddp_cpu",
        f"+examples={examples}", f"hydra.run.dir={run_dir}", "trainer.lightning.max_steps=6",
        "trainer.progress_bar=none", "trainer.batch_size=8", "trainer.data.val_size=16",
        "trainer.lightning.val_check_interval=1000", "model.architecture.d_model=64",
        "model.architecture.d_ff=128", "model.tokenizer.vocab_size=600", "logger=csv",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOD_LAB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # Lightning re-ran the Hydra command as rank 1 (its log lands in the same run dir)
    rank1 = (run_dir / "train_ddp_process_1.log").read_text()
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in rank1
    assert "distributed_backend=gloo" in (run_dir / "__main__.log").read_text()
    metrics = json.loads((run_dir / "train_metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_step"] == 6
    # 224 training rows / 8 per batch = 28 batches, 14 per rank: 6 steps = 6/14 epoch
    assert metrics["epochs"] == pytest.approx(6 / 14, abs=1e-3)
    assert metrics["val_loss"] is not None
    assert (run_dir / "model" / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
