"""Fixtures of the training-core tests: a small learnable task, fast trainer overrides."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from omegaconf import DictConfig, open_dict

RESTAURANTS = ["sino", "the italian place", "blue moon", "golden dragon", "casa maria",
               "the green table", "sakura", "le petit bistro"]
CITIES = ["san jose", "palo alto", "oakland", "berkeley", "san francisco", "fremont"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TEMPLATES = [
    "i want a table for {n} at {r} in {c} on {d}",
    "book {r} in {c} for {n} people on {d} please",
    "can you reserve {r} for {d}? we are {n}, in {c}",
]


def booking_task_rows(count: int, seed: int) -> list[dict[str, str]]:
    """A small slot-filling task a tiny model learns in a few dozen steps."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        n, r, c, d = rng.randint(1, 9), rng.choice(RESTAURANTS), rng.choice(CITIES), rng.choice(DAYS)
        source = rng.choice(TEMPLATES).format(n=n, r=r, c=c, d=d)
        target = f'x1 = reserve(restaurant="{r}", city="{c}", people={n})<new>x2 = day("{d}")'
        rows.append({"source": source, "target": target})
    return rows


def as_chat(row: dict[str, str]) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Write the program.", "loss": False},
            {"role": "user", "content": row["source"], "loss": False},
            {"role": "assistant", "content": row["target"], "loss": True},
        ]
    }


# dims smaller than the shipped tiny configs: every test trains in about a second
FAST_T5 = ["model.architecture.d_model=64", "model.architecture.d_ff=128",
           "model.architecture.d_kv=16", "model.tokenizer.vocab_size=600"]
FAST_LLAMA = ["model.architecture.hidden_size=64", "model.architecture.intermediate_size=128",
              "model.tokenizer.vocab_size=600"]


def fast_overrides(model: str, peft: str, steps: int) -> list[str]:
    return [
        f"model={model}",
        f"peft={peft}",
        "trainer=cpu",
        "logger=csv",
        f"trainer.lightning.max_steps={steps}",
        "trainer.lightning.log_every_n_steps=1",
        "trainer.lightning.val_check_interval=1000",
        "trainer.progress_bar=none",
        "trainer.batch_size=8",
        "trainer.data.val_size=16",
        f"trainer.checkpoint.every_n_steps={max(steps // 2, 1)}",
        *(FAST_T5 if model.startswith("t5") else FAST_LLAMA),
    ]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Two cores are shared by several jobs: one intra-op thread per test process avoids
    the 5-20x slowdown of oversubscribed OpenMP pools, and keeps results reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_booking_rows() -> Callable[[int, int], list[dict[str, str]]]:
    return booking_task_rows


@pytest.fixture(scope="session")
def booking_rows() -> list[dict[str, str]]:
    return booking_task_rows(240, seed=0)


@pytest.fixture(scope="session")
def seq2seq_examples(booking_rows) -> dict[str, Dataset]:
    return {"book": Dataset.from_list(booking_rows)}


@pytest.fixture(scope="session")
def chat_examples(booking_rows) -> dict[str, Dataset]:
    return {"book": Dataset.from_list([as_chat(r) for r in booking_rows])}


@pytest.fixture
def train_tiny(compose, seq2seq_examples, chat_examples) -> Callable:
    """``train_tiny(model, peft, run_dir, steps=30, extra=[...], callbacks=[...])``
    -> (bundle, cfg)."""
    from tod_lab.models.train import train

    def run(model: str, peft: str, run_dir: Path, steps: int = 30, extra: list[str] = (),
            examples=None, callbacks=()):
        cfg = compose([*fast_overrides(model, peft, steps), *extra], run_dir=run_dir)
        if examples is None:
            examples = seq2seq_examples if cfg.model.kind == "seq2seq" else chat_examples
        bundle = train(cfg, examples, run_dir, model_kind=cfg.model.kind, callbacks=callbacks)
        return bundle, cfg

    return run


def compose_models_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """The root conftest's compose_config, usable from module-scoped fixtures."""
    from hydra import compose, initialize_config_dir

    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    return cfg


@pytest.fixture(scope="session")
def trained_bundles(tmp_path_factory, seq2seq_examples, chat_examples) -> dict:
    """t5_tiny and llama_tiny fine-tuned (full) on the booking task: fluent enough that
    generation tests compare meaningful, multi-token outputs."""
    import os

    from tod_lab.models.train import train

    os.environ.setdefault("TOD_LAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    torch.set_num_threads(1)
    bundles = {}
    # t5_tiny's Unigram pieces split at punctuation: its targets are ~1.5x as many tokens
    for model, examples, steps in (("t5_tiny", seq2seq_examples, 200),
                                   ("llama_tiny", chat_examples, 80)):
        run_dir = tmp_path_factory.mktemp(model)
        cfg = compose_models_config(
            [*fast_overrides(model, "none", steps), "optimizer.lr=3e-3", "logger=none"], run_dir
        )
        bundles[model] = train(cfg, examples, run_dir)
    return bundles


def read_losses(run_dir: Path) -> list[float]:
    with open(Path(run_dir) / "logs" / "metrics.csv") as handle:
        return [float(r["train_loss"]) for r in csv.DictReader(handle) if r.get("train_loss")]


@pytest.fixture
def logged_losses() -> Callable[[Path], list[float]]:
    return read_losses
