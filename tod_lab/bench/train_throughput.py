"""Benchmark ``train_throughput``: target tokens / s of tod_lab's training vs HF Seq2SeqTrainer.

Same tiny T5 (``conf/model/t5_tiny.yaml``, identical initial weights: both load the base
tod_lab saved), same LoRA config (``conf/peft/lora.yaml``), same tokenizer and token ids,
same examples (real SGD: every user turn of the dev split -> its dialogue-state string,
see ``tod_lab/models/probe_data.py``), same batch size, optimiser, schedule and number of
optimiser steps. Timed: the training loop only (``train_runtime`` for HF, Lightning's
fit loop for tod_lab); counted: the real (non-padding) target tokens each trained on.

The baseline is ``Seq2SeqTrainer`` as documented for seq2seq fine-tuning: random batches
padded per batch by ``DataCollatorForSeq2Seq``. tod_lab's length-grouped batches pad far
less, which is where the gain comes from. Runs are interleaved (ours, HF, ours, HF, ...)
and the best of each kept; they run single-threaded and are timed in CPU seconds of this
process (wall seconds are in the details) so that other jobs on a shared machine distort
neither side.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tod_lab.bench import BenchResult, ratio_higher_is_better

STEPS = 150
BATCH_SIZE = 16
REPEATS = 3
SEED = 0


def compose(overrides: list[str], run_dir: Path):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import open_dict

    from tod_lab.cli import CONFIG_PATH

    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = hydra_compose("config", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    return cfg


def bench_config(work: Path, name: str):
    return compose(
        [
            "model=t5_tiny", "peft=lora", "trainer=cpu", "logger=none", f"seed={SEED}",
            f"paths.cache_dir={work / 'cache'}",
            f"trainer.lightning.max_steps={STEPS}", f"trainer.batch_size={BATCH_SIZE}",
            "trainer.progress_bar=none", "trainer.final_validation=false",
            "trainer.data.val_size=0", "trainer.lightning.val_check_interval=1000000",
            "trainer.checkpoint.every_n_steps=1000000", "trainer.lightning.log_every_n_steps=50",
        ],
        work / name,
    )


def run_ours(work: Path, examples, name: str) -> tuple[int, float, float]:
    """(target tokens, wall seconds, CPU seconds) of tod_lab's training loop."""
    from tod_lab.models.train import train

    metrics = train(bench_config(work, name), examples, work / name, model_kind="seq2seq").train_metrics
    return metrics["target_tokens"], metrics["train_seconds"], metrics["train_cpu_seconds"]


class CountingCollator:
    """DataCollatorForSeq2Seq that also counts the real target tokens it hands out."""

    def __init__(self, inner):
        self.inner = inner
        self.target_tokens = 0

    def __call__(self, features):
        batch = self.inner(features)
        self.target_tokens += int((batch["labels"] != -100).sum())
        return batch


def run_hf(work: Path, examples, reference_run: str, name: str) -> tuple[int, float, float]:
    """(target tokens, wall seconds, CPU seconds) of ``Seq2SeqTrainer.train``."""
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    from tod_lab.models.datamodule import TokenizeSettings, tokenize_examples
    from tod_lab.models.factory import texts_for_tokenizer
    from tod_lab.models.peft import apply_peft
    from tod_lab.models.train import prepare_model

    cfg = bench_config(work, name)
    # the base tod_lab saved in its first run: identical initial weights and tokenizer
    prepared = prepare_model(cfg, texts=texts_for_tokenizer(examples),
                             base_dir=work / reference_run / "model" / "base", on_gpu=False)
    model = apply_peft(prepared.model, prepared.peft, family="t5", kind="seq2seq",
                       total_steps=STEPS)
    spec = prepared.spec
    tokenized = tokenize_examples(
        "dst", examples["dst"], prepared.tokenizer,
        TokenizeSettings(kind="seq2seq", max_source_length=spec.max_source_length,
                         max_target_length=spec.max_target_length),
        work / "cache" / "tokenized",
    ).remove_columns(["length", "target_length"])
    collator = CountingCollator(DataCollatorForSeq2Seq(prepared.tokenizer, model=model,
                                                       label_pad_token_id=-100))
    args = Seq2SeqTrainingArguments(
        output_dir=str(work / name),
        per_device_train_batch_size=BATCH_SIZE,
        max_steps=STEPS,
        learning_rate=float(cfg.optimizer.lr),
        weight_decay=float(cfg.optimizer.weight_decay),
        warmup_steps=int(round(float(cfg.scheduler.num_warmup_steps) * STEPS)),
        lr_scheduler_type="linear",
        optim="adamw_torch",
        max_grad_norm=1.0,
        logging_steps=50,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=SEED,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=tokenized,
                             data_collator=collator)
    cpu_started = time.process_time()
    output = trainer.train()
    cpu_seconds = time.process_time() - cpu_started
    return collator.target_tokens, float(output.metrics["train_runtime"]), cpu_seconds


def run() -> BenchResult:
    from tod_lab.models.probe_data import read_probe_split, state_examples

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        examples = {"dst": state_examples(read_probe_split("dev"))}
        rates: dict[str, list[float]] = {"ours": [], "hf": []}
        runs: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="tod_lab_bench_") as tmp:
            work = Path(tmp)
            for repeat in range(REPEATS):
                for who in ("ours", "hf"):
                    name = f"{who}{repeat}"
                    if who == "ours":
                        tokens, wall, cpu = run_ours(work, examples, name)
                    else:
                        tokens, wall, cpu = run_hf(work, examples, "ours0", name)
                    rates[who].append(tokens / cpu)
                    runs[name] = {"target_tokens": tokens, "wall_s": round(wall, 2),
                                  "cpu_s": round(cpu, 2)}
    finally:
        torch.set_num_threads(threads)
    best_ours, best_hf = max(rates["ours"]), max(rates["hf"])
    return BenchResult(
        name="train_throughput",
        ours=round(best_ours, 1),
        baseline=round(best_hf, 1),
        unit="target tokens per CPU-second (t5_tiny + LoRA, 1 thread; best of runs)",
        ratio=ratio_higher_is_better(best_ours, best_hf),
        details={"steps": STEPS, "batch_size": BATCH_SIZE, "examples": len(examples["dst"]),
                 "runs": runs},
    )
