"""``train(cfg, examples, run_dir, model_kind=...) -> ModelBundle``: the pipeline's entry.

    from tod_lab.models.train import train
    examples = system.build_examples(train_split, seed=cfg.seed)     # {task: Dataset}
    bundle = train(cfg, examples, run_dir, model_kind=system.model_kind)
    generator = bundle.generator()                                   # tod_lab.systems.Generator

(``train_and_build_generator`` does both steps.)

Reads ``cfg.model``, ``cfg.peft``, ``cfg.trainer``, ``cfg.optimizer``, ``cfg.scheduler``,
``cfg.logger``, ``cfg.seed`` and ``cfg.paths.cache_dir``. Writes under ``run_dir``:
``checkpoints/last.ckpt`` (+ ``checkpoints/adapter-last/``), ``model/`` (bundle.json,
tokenizer/, base/ for config-built models, adapter/ or full/) and ``train_metrics.json``.
Rerunning with the same ``run_dir`` resumes from ``checkpoints/last.ckpt``.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from tod_lab.errors import ConfigError
from tod_lab.models.callbacks import AdapterExport, TrainingTimer
from tod_lab.models.datamodule import DataSettings, ExampleDataModule, TokenizeSettings
from tod_lab.models.factory import (
    ModelBundle,
    ModelSpec,
    build_config_model,
    build_tiny_tokenizer,
    export_bundle,
    load_pretrained_model,
    load_pretrained_tokenizer,
    resolve_dtype,
    resolve_local_path,
    texts_for_tokenizer,
)
from tod_lab.models.modules import TodLanguageModule
from tod_lab.models.peft import PeftSpec, apply_peft, parameter_counts, quantization_config

log = logging.getLogger(__name__)

METRICS_FILE = "train_metrics.json"


@dataclass(frozen=True)
class TrainSettings:
    """``cfg.trainer`` as a typed value."""

    lightning: Mapping[str, Any]
    data: DataSettings
    gradient_checkpointing: bool = False
    progress_bar: str = "rich"  # rich | tqdm | none
    checkpoint_every_n_steps: int = 100
    checkpoint_dir: str | None = None  # default <run_dir>/checkpoints
    resume: str | None = "auto"  # auto: <checkpoint_dir>/last.ckpt if present; null; a path
    final_validation: bool = True
    num_threads: int | None = None  # torch intra-op threads (1 avoids oversubscribing shared CPUs)
    # the LR schedule also advances with the max_time budget (models/modules.time_budgeted)
    schedule_by_time: bool = False

    @classmethod
    def from_config(cls, cfg: DictConfig | Mapping | None) -> TrainSettings:
        if cfg is None:
            raise ConfigError("trainer", "no trainer configured", "choose one: trainer=cpu|gpu|ddp|fsdp")
        raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        data = dict(raw.pop("data", {}) or {})
        for key in ("batch_size", "eval_batch_size"):
            if key in raw:
                data[key] = raw.pop(key)
        checkpoint = dict(raw.pop("checkpoint", {}) or {})
        known_data = set(DataSettings.__dataclass_fields__)
        if set(data) - known_data:
            raise ConfigError("trainer.data", f"unknown keys {sorted(set(data) - known_data)}",
                              f"known: {sorted(known_data)}")
        settings = {
            "lightning": dict(raw.pop("lightning", {}) or {}),
            "data": DataSettings(**{**data, "task_weights": dict(data.get("task_weights") or {})}),
            "checkpoint_every_n_steps": int(checkpoint.get("every_n_steps", 100)),
            "checkpoint_dir": checkpoint.get("dir"),
            "resume": checkpoint.get("resume", "auto"),
        }
        for key in ("gradient_checkpointing", "progress_bar", "final_validation", "num_threads",
                    "schedule_by_time"):
            if key in raw:
                settings[key] = raw.pop(key)
        if raw:
            raise ConfigError("trainer", f"unknown keys {sorted(raw)}")
        return cls(**settings)

    @property
    def on_gpu(self) -> bool:
        accelerator = str(self.lightning.get("accelerator", "auto"))
        return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


# ----------------------------------------------------------------------------- model setup


@dataclass
class PreparedModel:
    model: Any
    tokenizer: Any
    spec: ModelSpec
    peft: PeftSpec
    base_dir: Path | None  # saved config-built base weights (adapter reloads need them)
    new_token_ids: list[int] = field(default_factory=list)


def prepare_model(
    cfg: DictConfig,
    *,
    texts: Sequence[str] | None,
    base_dir: Path | None,
    on_gpu: bool,
    added_tokens: Sequence[str] = (),
) -> PreparedModel:
    """Tokenizer + base model (not yet PEFT-wrapped) for ``cfg.model`` / ``cfg.peft``.

    Config-built bases are saved to ``base_dir`` once and re-loaded from there, so a
    resumed run (and the exported adapter) sits on exactly the same weights.
    """
    spec = ModelSpec.from_config(OmegaConf.select(cfg, "model"))
    peft_spec = PeftSpec.from_config(OmegaConf.select(cfg, "peft"))
    cache_dir = Path(OmegaConf.select(cfg, "paths.cache_dir", default=".cache/tod_lab"))
    quant = quantization_config(peft_spec, on_gpu=on_gpu)
    dtype = resolve_dtype(spec, peft_method=peft_spec.method, on_gpu=on_gpu)
    if spec.source == "pretrained":
        path = resolve_local_path(spec)
        tokenizer, new_tokens = load_pretrained_tokenizer(spec, path, added_tokens)
        model = load_pretrained_model(spec, path, tokenizer, dtype=dtype, quantization_config=quant)
        new_ids = sorted(tokenizer.convert_tokens_to_ids(new_tokens))
        return PreparedModel(model, tokenizer, spec, peft_spec, None, new_ids)
    if not texts:
        raise ConfigError(
            "model.source", f"{spec.name} is built from config and needs training text for its "
            "tokenizer", "train it first, or load a trained one with tod_lab.models.load_bundle(run_dir)",
        )
    tokenizer = build_tiny_tokenizer(spec, texts, cache_dir, added_tokens)
    seed = int(OmegaConf.select(cfg, "seed", default=0))
    if base_dir is not None and (base_dir / "config.json").is_file():
        pass  # saved by an earlier (interrupted) run of this run dir
    else:
        model = build_config_model(spec, tokenizer, seed=seed)
        if base_dir is None:
            return PreparedModel(model.to(dtype), tokenizer, spec, peft_spec, None)
        model.save_pretrained(str(base_dir))
        tokenizer.save_pretrained(str(base_dir))  # base/ alone is a loadable HF model dir
    from tod_lab.models.factory import auto_model_class

    kwargs: dict[str, Any] = {"dtype": dtype}
    if quant is not None:
        kwargs["quantization_config"] = quant
    model = auto_model_class(spec.kind).from_pretrained(str(base_dir), **kwargs)
    return PreparedModel(model, tokenizer, spec, peft_spec, base_dir)


# ----------------------------------------------------------------------------- trainer setup


def _optimizer_factory(cfg: DictConfig):
    opt_cfg = OmegaConf.select(cfg, "optimizer")
    if opt_cfg is None:
        raise ConfigError("optimizer", "no optimizer configured", "e.g. optimizer=adamw")
    factory = instantiate(opt_cfg)
    if not callable(factory) or isinstance(factory, torch.optim.Optimizer):
        raise ConfigError("optimizer", "must be a partial (set _partial_: true)")
    return factory


def _scheduler_factory(cfg: DictConfig, total_steps: int):
    sched_cfg = OmegaConf.select(cfg, "scheduler")
    if sched_cfg is None:
        return None
    sched_cfg = OmegaConf.to_container(sched_cfg, resolve=True)
    warmup = sched_cfg.get("num_warmup_steps")
    if isinstance(warmup, float) and warmup < 1:  # a ratio of the total steps
        sched_cfg["num_warmup_steps"] = int(round(warmup * total_steps))
    return instantiate(sched_cfg)


def _loggers(cfg: DictConfig, run_dir: Path) -> list:
    logger_cfg = OmegaConf.select(cfg, "logger")
    if not logger_cfg:
        return []
    if "_target_" in logger_cfg:
        return [instantiate(logger_cfg)]
    return [instantiate(c) for c in logger_cfg.values() if c and "_target_" in c]


def _strategy(settings: TrainSettings, spec: ModelSpec):
    strategy = settings.lightning.get("strategy", "auto")
    if not isinstance(strategy, Mapping):
        return strategy
    strategy = dict(strategy)
    if "FSDP" in str(strategy.get("_target_", "")) and "auto_wrap_policy" not in strategy:
        if not spec.block_classes:
            raise ConfigError("model.block_classes", "FSDP needs the transformer block classes to wrap")
        strategy["auto_wrap_policy"] = {get_class(name) for name in spec.block_classes}
    return instantiate(strategy, _convert_="all")


def _resume_path(settings: TrainSettings, checkpoint_dir: Path) -> str | None:
    resume = settings.resume
    if resume in (None, False, "none", "null"):
        return None
    if resume == "auto":
        last = checkpoint_dir / "last.ckpt"
        if not last.is_file():
            return None
        try:  # a kill -9 during the write leaves a truncated zip: start over instead
            with zipfile.ZipFile(last):
                pass
        except (zipfile.BadZipFile, OSError):
            log.warning("ignoring unreadable %s (interrupted while writing); starting over", last)
            return None
        log.info("resuming from %s", last)
        return str(last)
    if not Path(resume).is_file():
        raise ConfigError("trainer.checkpoint.resume", f"checkpoint {resume} does not exist")
    return str(resume)


def build_trainer(cfg: DictConfig, settings: TrainSettings, spec: ModelSpec, run_dir: Path,
                  checkpoint_dir: Path, extra_callbacks: Sequence[pl.Callback] = ()) -> pl.Trainer:
    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar

    kwargs = dict(settings.lightning)
    kwargs["strategy"] = _strategy(settings, spec)
    loggers = _loggers(cfg, run_dir)
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(
            dirpath=str(checkpoint_dir),
            every_n_train_steps=settings.checkpoint_every_n_steps,
            save_last=True,
            save_top_k=0,
            save_on_train_epoch_end=False,
        ),
        AdapterExport(checkpoint_dir / "adapter-last"),
        *extra_callbacks,
    ]
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    progress = kwargs.get("enable_progress_bar", True) and settings.progress_bar != "none"
    kwargs["enable_progress_bar"] = bool(progress)
    if progress and settings.progress_bar == "rich":
        callbacks.append(RichProgressBar())
    kwargs.setdefault("use_distributed_sampler", False)  # our batch sampler shards by rank
    kwargs.setdefault("default_root_dir", str(run_dir))
    return pl.Trainer(logger=loggers or False, callbacks=callbacks, **kwargs)


# ----------------------------------------------------------------------------- train


def _check_kind(spec: ModelSpec, model_kind: str | None) -> None:
    if model_kind is not None and model_kind != spec.kind:
        raise ConfigError(
            "model",
            f"{spec.name} is a {spec.kind} model but the system needs a {model_kind} model",
            "pick a matching model (seq2seq: t5_tiny, flan_t5_*; causal: llama_tiny, "
            "llama3_8b_instruct, qwen2_5_*)",
        )


def train(
    cfg: DictConfig,
    examples: Mapping[str, Any],
    run_dir: str | Path,
    *,
    model_kind: str | None = None,
    val_examples: Mapping[str, Any] | None = None,
    added_tokens: Sequence[str] = (),
    callbacks: Sequence[pl.Callback] = (),
) -> ModelBundle:
    """Fine-tune ``cfg.model`` with ``cfg.peft`` on ``examples`` ({task: Dataset}).

    ``model_kind`` is the system's (``seq2seq`` / ``causal``) and must match the model's.
    ``val_examples`` ({task: Dataset}) give the validation loss; without them
    ``trainer.data.val_size`` examples are held out. ``added_tokens`` extend
    ``model.added_tokens`` (atomic tokens the system writes, kept by decode).
    ``callbacks`` are extra Lightning callbacks (e.g. a sweep's pruning callback).
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    spec = ModelSpec.from_config(OmegaConf.select(cfg, "model"))
    _check_kind(spec, model_kind)
    settings = TrainSettings.from_config(OmegaConf.select(cfg, "trainer"))
    seed = int(OmegaConf.select(cfg, "seed", default=0))
    pl.seed_everything(seed, workers=True, verbose=False)
    if settings.num_threads:
        torch.set_num_threads(int(settings.num_threads))
    checkpoint_dir = Path(settings.checkpoint_dir or run_dir / "checkpoints")
    export_dir = run_dir / "model"

    prepared = prepare_model(
        cfg,
        texts=texts_for_tokenizer(examples) if spec.source == "config" else None,
        base_dir=export_dir / "base" if spec.source == "config" else None,
        on_gpu=settings.on_gpu,
        added_tokens=added_tokens,
    )
    cache_dir = Path(OmegaConf.select(cfg, "paths.cache_dir", default=".cache/tod_lab"))
    datamodule = ExampleDataModule(
        examples,
        prepared.tokenizer,
        tokenize=TokenizeSettings(
            kind=spec.kind,
            max_source_length=spec.max_source_length,
            max_target_length=spec.max_target_length,
            max_length=spec.max_length,
            role_map=spec.role_map,
        ),
        data=settings.data,
        seed=seed,
        cache_dir=cache_dir,
        val_examples=val_examples,
    )
    timer = TrainingTimer()
    trainer = build_trainer(cfg, settings, spec, run_dir, checkpoint_dir, [timer, *callbacks])
    accumulate = int(settings.lightning.get("accumulate_grad_batches", 1))
    max_steps = int(settings.lightning.get("max_steps", -1) or -1)
    if max_steps > 0:
        total_steps = max_steps
    else:
        epochs = int(settings.lightning.get("max_epochs") or 1)
        batches = datamodule.steps_per_epoch(1) // max(1, trainer.world_size)
        total_steps = epochs * max(1, -(-batches // accumulate))

    model = apply_peft(
        prepared.model,
        prepared.peft,
        family=spec.family,
        kind=spec.kind,
        total_steps=total_steps,
        gradient_checkpointing=settings.gradient_checkpointing,
        new_token_ids=prepared.new_token_ids,
    )
    trainable, total = parameter_counts(model)
    log.info("%s + %s: %d trainable of %d parameters (%.3f%%)", spec.name, prepared.peft.method,
             trainable, total, 100.0 * trainable / max(total, 1))
    for logger in trainer.loggers:
        logger.log_hyperparams({"trainable_params": trainable, "total_params": total,
                                "model": spec.name, "peft": prepared.peft.method})
    module = TodLanguageModule(
        model,
        optimizer_factory=_optimizer_factory(cfg),
        scheduler_factory=_scheduler_factory(cfg, total_steps),
        total_steps=total_steps,
        adapter_only_checkpoints=prepared.peft.is_peft,
        adalora=prepared.peft.method == "adalora",
        schedule_by_time=bool(settings.schedule_by_time),
    )
    if settings.schedule_by_time and not settings.lightning.get("max_time"):
        # an experiment's setting outliving an override that trains by steps: the plain
        # step schedule is then exactly right, so say so rather than refuse
        log.warning("trainer.schedule_by_time has no effect without trainer.lightning.max_time: "
                    "the LR schedule follows the steps")
    module.model.train()  # from_pretrained() leaves models in eval mode (dropout off)
    trainer.fit(module, datamodule=datamodule, ckpt_path=_resume_path(settings, checkpoint_dir))
    trainer.save_checkpoint(str(checkpoint_dir / "last.ckpt"))  # a rerun finds training done
    val_loss = None
    if settings.final_validation and datamodule.val_set is not None and len(datamodule.val_set):
        results = trainer.validate(module, datamodule=datamodule, verbose=False)
        val_loss = float(results[0]["val_loss"]) if results else None

    metrics = {
        "model": spec.name,
        "peft": prepared.peft.method,
        "global_step": int(trainer.global_step),
        "resumed_from_step": module.resumed_from_step,
        # optimiser steps x accumulation / batches per epoch on this rank
        "epochs": round(trainer.global_step * accumulate / max(1, len(datamodule.train_batch_sampler())), 4),
        "train_loss": module.last_train_loss,  # of the last optimisation step
        "val_loss": val_loss,
        "trainable_params": trainable,
        "total_params": total,
        "train_examples": int(len(datamodule.train_set)),
        "val_examples": int(len(datamodule.val_set)) if datamodule.val_set is not None else 0,
        "truncated_examples": datamodule.truncated,
        "target_tokens": int(module.target_tokens_seen),
        "train_seconds": round(timer.seconds, 3),
        "train_cpu_seconds": round(timer.cpu_seconds, 3),
        "target_tokens_per_second": round(module.target_tokens_seen / timer.seconds, 2)
        if timer.seconds else None,
        "seconds": round(time.perf_counter() - started, 3),
        "global_rank": int(trainer.global_rank),
        "world_size": int(trainer.world_size),
    }
    module.model.eval()
    bundle = ModelBundle(
        model=module.model,
        tokenizer=prepared.tokenizer,
        spec=spec,
        peft_method=prepared.peft.method,
        train_metrics=metrics,
    )
    if trainer.is_global_zero:
        export_bundle(bundle, export_dir, base_dir=prepared.base_dir,
                      quantization=prepared.peft.quantization)
        (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    bundle.export_dir = export_dir
    return bundle


def build_bundle(
    cfg: DictConfig,
    *,
    model_kind: str | None = None,
    texts: Sequence[str] | None = None,
    added_tokens: Sequence[str] = (),
) -> ModelBundle:
    """An untrained bundle: a pretrained model used zero-shot (e.g. PyTOD's schema
    supervisor on Flan-T5), or a random tiny model whose tokenizer is trained on ``texts``."""
    spec = ModelSpec.from_config(OmegaConf.select(cfg, "model"))
    _check_kind(spec, model_kind)
    on_gpu = torch.cuda.is_available()
    prepared = prepare_model(cfg, texts=texts, base_dir=None, on_gpu=on_gpu, added_tokens=added_tokens)
    prepared.model.eval()
    return ModelBundle(model=prepared.model, tokenizer=prepared.tokenizer, spec=spec, peft_method="none")


def train_and_build_generator(
    cfg: DictConfig,
    examples: Mapping[str, Any],
    run_dir: str | Path,
    *,
    model_kind: str | None = None,
    **kwargs: Any,
):
    """:func:`train`, then the bundle's :class:`~tod_lab.models.generate.BatchedGenerator`."""
    return train(cfg, examples, run_dir, model_kind=model_kind, **kwargs).generator()
