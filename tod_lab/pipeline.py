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
from omegaconf import DictConfig, OmegaConf, open_dict

from tod_lab.data.fractions import parse_fraction, select_ids
from tod_lab.data.io import write_json
from tod_lab.data.sources import CorpusSource
from tod_lab.data.stats import split_statistics
from tod_lab.data.types import DialogueSplit
from tod_lab.errors import ConfigError
from tod_lab.runs import (
    RunRecorder,
    config_hash,
    interrupted_checkpoint,
    resolved_container,
    write_metrics,
)
from tod_lab.systems import RunResult

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


def resume_from_interrupted_run(cfg: DictConfig, run_dir: Path, cfg_hash: str) -> None:
    """Rerunning a killed command continues from its last checkpoint (resume: auto)."""
    checkpoint = OmegaConf.select(cfg, "trainer.checkpoint")
    if checkpoint is None or checkpoint.get("resume") != "auto" or checkpoint.get("dir"):
        return
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        return  # the training core resumes from this run's own checkpoint
    previous = interrupted_checkpoint(run_dir, cfg_hash)
    if previous is not None:
        log.info("resuming the interrupted run %s", previous.parent.parent)
        with open_dict(cfg):
            cfg.trainer.checkpoint.resume = str(previous)


def build_system(cfg: DictConfig):
    """The configured system (``None`` without ``cfg.system``): cheap, no model yet."""
    if OmegaConf.select(cfg, "system") is None:
        return None
    return instantiate(cfg.system, _convert_="all")


def system_tokenizer_tokens(system) -> tuple[str, ...]:
    """The system's own atomic tokens (optional hook, see :mod:`tod_lab.systems`)."""
    hook = getattr(system, "tokenizer_tokens", None)
    return tuple(hook()) if callable(hook) else ()


def run_system_stages(cfg: DictConfig, system, data: DataStage, run_dir: Path,
                      recorder) -> RunResult:
    """examples -> train -> agent run -> evaluation (inside ``system.run``)."""
    generator = None
    if getattr(system, "needs_training", True):
        from tod_lab.models.train import train_and_build_generator

        with recorder.stage("examples"):
            examples = system.build_examples(data.train, seed=int(cfg.seed))
        resume_from_interrupted_run(cfg, run_dir, recorder.cfg_hash)
        with recorder.stage("train"):
            generator = train_and_build_generator(
                cfg, examples, run_dir, model_kind=system.model_kind,
                added_tokens=system_tokenizer_tokens(system),
            )
    with recorder.stage("run_and_evaluate"):
        return system.run(data.eval, generator, run_dir)


def run(cfg: DictConfig) -> float | None:
    """The whole pipeline for one run; returns the main metric for sweepers.

    Nothing a user produced is lost to a crash: status.json is written before any work,
    checkpoints and predictions are written by the stages as they go, and a failure is
    recorded (``status: failed`` with the error) before it propagates.
    """
    from hydra.core.hydra_config import HydraConfig
    from pytorch_lightning import seed_everything  # heavy import: only for full runs

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(int(cfg.seed))
    OmegaConf.save(resolved_container(cfg), run_dir / "config.yaml")
    recorder = RunRecorder(run_dir, config_hash(cfg))
    recorder.write_status("running", stage="data")
    try:
        system = build_system(cfg)
        # a system without training (gold replay) never reads the training split: on the
        # real SGD that saves ~15 s of reading 12k dialogues
        need_train = system is not None and getattr(system, "needs_training", True)
        with recorder.stage("data"):
            data = run_data_stages(cfg, run_dir, need_train=need_train)
        if system is None:
            log.info("no system configured: stopping after the data stages (%s)",
                     run_dir / "data_statistics.json")
            recorder.write_status("finished")
            return None
        result = run_system_stages(cfg, system, data, run_dir, recorder)
        main_metric = cfg.main_metric or result.main_metric
        write_metrics(
            run_dir,
            result.metrics,
            result.protocols,
            main_metric=main_metric,
            cfg=cfg,
            extra={"files": result.files, "details": result.details},
        )
    except BaseException as exc:
        recorder.failed(exc)
        raise
    recorder.write_status("finished")
    value = result.metrics.get(main_metric)
    log.info("%s = %s (run dir %s)", main_metric, value, run_dir)
    return float(value) if value is not None else None
