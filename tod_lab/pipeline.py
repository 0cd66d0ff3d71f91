"""The run pipeline: compose -> seed -> data -> (system: train -> run -> evaluate) -> metrics.

Each stage reads only the config and the previous stage's output. The data stages exist
for every run; the system stages run when ``cfg.system`` is set.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tod_lab.data.fractions import parse_fraction, select_ids
from tod_lab.data.io import write_json
from tod_lab.data.sources import CorpusSource
from tod_lab.data.stats import split_statistics
from tod_lab.data.types import DialogueSplit
from tod_lab.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class DataStage:
    """What the data stages hand to the systems."""

    source: CorpusSource
    train: DialogueSplit | None  # the selected fraction of the training split
    eval: DialogueSplit  # the split named by data.split
    train_ids: list[str]
    statistics: dict[str, Any] = field(default_factory=dict)


def build_source(cfg: DictConfig) -> CorpusSource:
    if OmegaConf.select(cfg, "data") is None:
        raise ConfigError("data", "no corpus configured", "choose one: data=toy|sgd|multiwoz22")
    return instantiate(cfg.data, _convert_="all")


def fraction_of(cfg: DictConfig) -> float:
    return parse_fraction(OmegaConf.select(cfg, "data_fraction.fraction", default=1.0))


def apply_fraction(cfg: DictConfig, full_train: DialogueSplit, run_dir: Path) -> DialogueSplit:
    """Select the configured fraction of ``full_train``; write the ids to the run dir."""
    seed = int(OmegaConf.select(cfg, "data_fraction.seed", default=cfg.seed))
    ids = select_ids(full_train.dialogues, fraction_of(cfg), seed)
    (run_dir / "train_ids.txt").write_text("\n".join(ids) + "\n")
    return full_train.subset(ids)


def describe(data: DialogueSplit, source: CorpusSource, full_size: int | None = None) -> dict:
    stats = split_statistics(data, source.train_schema())
    if full_size is not None:
        stats["dialogues_before_fraction"] = full_size
        stats["fraction"] = round(len(data) / full_size, 6) if full_size else 0.0
    return stats


def run_data_stages(cfg: DictConfig, run_dir: Path, *, need_train: bool = True) -> DataStage:
    """load -> validate (inside the readers) -> fraction -> statistics, written to run_dir."""
    source = build_source(cfg)
    started = time.perf_counter()
    eval_split = source.read()
    statistics: dict[str, Any] = {}
    train: DialogueSplit | None = None
    if need_train or eval_split.split == "train":
        full_train = source.read("train")
        train = apply_fraction(cfg, full_train, run_dir)
        statistics["train"] = describe(train, source, len(full_train))
        if eval_split.split == "train":
            eval_split = train
    if eval_split.split != "train":
        statistics[eval_split.split] = describe(eval_split, source)
    statistics["seconds"] = round(time.perf_counter() - started, 3)
    write_json(run_dir / "data_statistics.json", statistics)
    return DataStage(
        source=source,
        train=train,
        eval=eval_split,
        train_ids=list(train.dialogue_ids) if train is not None else [],
        statistics=statistics,
    )


def run(cfg: DictConfig) -> float | None:
    """The whole pipeline for one run; returns ``cfg.main_metric`` for sweepers."""
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    data = run_data_stages(cfg, run_dir, need_train=True)
    log.info("data: %s", {k: v.get("dialogues") for k, v in data.statistics.items()
                          if isinstance(v, dict)})
    return None
