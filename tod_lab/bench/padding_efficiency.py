"""Benchmark ``padding_efficiency``: real tokens / padded tokens over an epoch of batches.

Real SGD text: every user turn of the dev split -> its dialogue-state string (19k
examples, ``tod_lab/models/probe_data.py``), batch size 16, tokenised by the tiny models'
own tokenizers. tod_lab's batches (``ExampleDataModule`` with the shipped
``conf/trainer/cpu.yaml`` data settings) against the baseline of random batches padded
to their longest row (what ``Seq2SeqTrainer`` + ``DataCollatorForSeq2Seq`` do).

Two lines:
- ``padding_efficiency`` -- seq2seq (t5_tiny), encoder AND decoder side counted together
  (every batch pads its sources and its targets);
- ``padding_efficiency_causal`` -- the same examples as chat conversations (llama_tiny),
  one sequence per example.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tod_lab.bench import BenchResult, ratio_higher_is_better

BATCH_SIZE = 16
SEED = 0


def measure(kind: str, examples, cache: Path) -> dict[str, float]:
    from tod_lab.models.datamodule import (
        DataSettings,
        ExampleDataModule,
        LengthGroupedBatchSampler,
        TokenizeSettings,
        padding_efficiency,
    )
    from tod_lab.models.factory import texts_for_tokenizer
    from tod_lab.models.tokenizers import TokenizerSpec, train_tokenizer

    # the tokenizers of t5_tiny (word BPE) and llama_tiny (byte-level BPE)
    spec = TokenizerSpec(algorithm="bpe", vocab_size=4000, chat=kind == "causal",
                         pre_tokenizer="punctuation" if kind == "seq2seq" else "byte_level")
    tokenizer = train_tokenizer(texts_for_tokenizer(examples), spec, cache)
    module = ExampleDataModule(examples, tokenizer, tokenize=TokenizeSettings(kind=kind),
                               data=DataSettings(batch_size=BATCH_SIZE, val_size=0), seed=SEED,
                               cache_dir=cache)
    module.setup("fit")
    targets = module.target_lengths if kind == "seq2seq" else None
    ours = module.train_batch_sampler().epoch_batches(0)
    baseline = LengthGroupedBatchSampler(module.lengths, module.tasks, batch_size=BATCH_SIZE,
                                         seed=SEED, group_by_length=False).epoch_batches(0)
    out = {
        "ours": padding_efficiency(ours, module.lengths, targets),
        "baseline": padding_efficiency(baseline, module.lengths, targets),
        "examples": len(module.lengths),
    }
    if kind == "seq2seq":
        out["ours_source_side"] = padding_efficiency(ours, module.lengths)
        out["ours_target_side"] = padding_efficiency(ours, module.target_lengths)
    return out


def run() -> list[BenchResult]:
    from tod_lab.models.probe_data import read_probe_split, state_chat_examples, state_examples

    split = read_probe_split("dev")
    results = []
    with tempfile.TemporaryDirectory(prefix="tod_lab_bench_") as tmp:
        for name, kind, build in (("padding_efficiency", "seq2seq", state_examples),
                                  ("padding_efficiency_causal", "causal", state_chat_examples)):
            figures = measure(kind, {"dst": build(split)}, Path(tmp))
            details = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()
                       if k not in ("ours", "baseline")}
            details["batch_size"] = BATCH_SIZE
            results.append(BenchResult(
                name=name,
                ours=round(figures["ours"], 4),
                baseline=round(figures["baseline"], 4),
                unit="real tokens / padded tokens, one epoch (random batches as baseline)",
                ratio=ratio_higher_is_better(figures["ours"], figures["baseline"]),
                details=details,
            ))
    return results
