"""Benchmark ``generation_batching``: prompts / s of BatchedGenerator vs one-by-one generate.

A t5_tiny fine-tuned for a few seconds on real SGD text (user turn -> state string, the
dev split) generates greedily for 128 unseen dev prompts: tod_lab's ``BatchedGenerator``
(length-sorted batches of 32, outputs back in input order) against one ``generate`` call
per prompt, the same model and tokenizer. The outputs must be identical, or the benchmark
fails. Single-threaded, timed in CPU seconds of this process (wall seconds in details).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import torch

from tod_lab.bench import BenchResult, ratio_higher_is_better
from tod_lab.errors import TodLabError

PROMPTS = 128
BATCH_SIZE = 32
MAX_NEW_TOKENS = 48
TRAIN_STEPS = 150


def timed(generate, prompts) -> tuple[list[str], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    outputs = generate(prompts)
    return outputs, time.perf_counter() - wall, time.process_time() - cpu


def run() -> BenchResult:
    from tod_lab.bench.train_throughput import compose
    from tod_lab.models.probe_data import read_probe_split, state_rows
    from tod_lab.models.train import train

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = state_rows(read_probe_split("dev"))
        train_rows, test_rows = rows[:8000], rows[-PROMPTS * 5 :: 5]
        from datasets import Dataset

        with tempfile.TemporaryDirectory(prefix="tod_lab_bench_") as tmp:
            work = Path(tmp)
            cfg = compose(["model=t5_tiny", "peft=none", "trainer=cpu", "logger=none",
                           f"paths.cache_dir={work / 'cache'}", "optimizer.lr=3e-3",
                           f"trainer.lightning.max_steps={TRAIN_STEPS}", "trainer.progress_bar=none",
                           "trainer.final_validation=false"], work / "run")
            bundle = train(cfg, {"dst": Dataset.from_list(train_rows)}, work / "run")
        prompts = [r["source"] for r in test_rows]
        batched = bundle.generator(batch_size=BATCH_SIZE, max_new_tokens=MAX_NEW_TOKENS)
        single = bundle.generator(batch_size=1, max_new_tokens=MAX_NEW_TOKENS)
        ours, ours_wall, ours_cpu = timed(batched.generate, prompts)
        one_by_one, base_wall, base_cpu = timed(
            lambda ps: [single.generate([p])[0] for p in ps], prompts
        )
    finally:
        torch.set_num_threads(threads)
    if ours != one_by_one:
        differing = sum(a != b for a, b in zip(ours, one_by_one, strict=True))
        raise TodLabError(f"batched outputs differ from one-by-one on {differing} prompts")
    return BenchResult(
        name="generation_batching",
        ours=round(PROMPTS / ours_cpu, 2),
        baseline=round(PROMPTS / base_cpu, 2),
        unit="prompts per CPU-second (t5_tiny greedy, 1 thread)",
        ratio=ratio_higher_is_better(PROMPTS / ours_cpu, PROMPTS / base_cpu),
        details={"prompts": PROMPTS, "batch_size": BATCH_SIZE, "max_new_tokens": MAX_NEW_TOKENS,
                 "identical_outputs": True, "ours_wall_s": round(ours_wall, 2),
                 "baseline_wall_s": round(base_wall, 2),
                 "mean_output_chars": round(sum(map(len, ours)) / PROMPTS, 1)},
    )
