"""The ``peft`` config group: one function turns ``cfg.peft`` into a PEFT-wrapped model.

Methods: none (full fine-tuning), lora, qlora (lora on a 4-bit nf4 base), prefix, prompt,
ia3, adalora. ``target_modules`` (and IA3's ``feedforward_modules``) are mappings from
model family (``cfg.model.family``: t5, llama, qwen2, ...) to module names, so one peft
config serves every model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from tod_lab.errors import ConfigError

log = logging.getLogger(__name__)

PEFT_METHODS = ("none", "lora", "qlora", "prefix", "prompt", "ia3", "adalora")
# keys whose values depend on the model family
FAMILY_KEYS = ("target_modules", "feedforward_modules", "modules_to_save")


@dataclass(frozen=True)
class PeftSpec:
    """``cfg.peft`` as a typed value."""

    method: str = "none"
    config: Mapping[str, Any] = field(default_factory=dict)  # kwargs of the peft *Config
    target_modules: Mapping[str, Any] = field(default_factory=dict)  # family -> names
    feedforward_modules: Mapping[str, Any] = field(default_factory=dict)  # IA3
    modules_to_save: Mapping[str, Any] = field(default_factory=dict)
    quantization: Mapping[str, Any] | None = None  # BitsAndBytesConfig kwargs (qlora)
    # AdaLoRA schedule as fractions of the total optimiser steps (peft wants absolute steps)
    tinit_fraction: float = 0.1
    tfinal_fraction: float = 0.2
    lr: float | None = None  # the method's usual learning rate (optimizer.lr defaults to it)
    train_new_token_embeddings: bool = True  # lora/qlora on pretrained models: train added rows

    @classmethod
    def from_config(cls, cfg: DictConfig | Mapping | None) -> PeftSpec:
        if cfg is None:
            return cls()
        raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError("peft", f"unknown keys {unknown}", f"known: {sorted(cls.__dataclass_fields__)}")
        method = raw.get("method", "none")
        if method not in PEFT_METHODS:
            raise ConfigError("peft.method", f"{method!r} is not one of {PEFT_METHODS}")
        for key in ("config", *FAMILY_KEYS):
            raw[key] = dict(raw.get(key) or {})
        return cls(**raw)

    @property
    def is_peft(self) -> bool:
        return self.method != "none"

    def for_family(self, key: str, family: str, *, required: bool) -> Any:
        table = getattr(self, key)
        if family in table:
            return table[family]
        if required:
            raise ConfigError(
                f"peft.{key}",
                f"has no entry for model family {family!r} (has {sorted(table)})",
                f"add peft.{key}.{family}=[...] with the module names of that architecture",
            )
        return None


# ----------------------------------------------------------------------------- qlora


def quantization_config(spec: PeftSpec, *, on_gpu: bool):
    """BitsAndBytesConfig for qlora (nf4, double quantisation, bf16 compute on GPU)."""
    if not spec.quantization:
        return None
    require_bitsandbytes(on_gpu=on_gpu)
    from transformers import BitsAndBytesConfig

    kwargs = dict(spec.quantization)
    compute = kwargs.pop("bnb_4bit_compute_dtype", "auto")
    if compute == "auto":
        compute = "bfloat16" if on_gpu else "float32"
    kwargs["bnb_4bit_compute_dtype"] = getattr(torch, compute)
    return BitsAndBytesConfig(**kwargs)


def require_bitsandbytes(*, on_gpu: bool) -> None:
    """Refuse QLoRA clearly where bitsandbytes' 4-bit kernels cannot run."""
    hint = "use peft=lora instead (same adapters, unquantised base)"
    try:
        import bitsandbytes as bnb
    except Exception as err:  # ImportError, or a broken native library
        raise ConfigError(
            "peft.quantization", f"QLoRA needs bitsandbytes, which cannot be imported: {err}", hint
        ) from err
    device = "cuda" if on_gpu else "cpu"
    try:  # probe the actual kernel: bitsandbytes imports fine on platforms it cannot run on
        layer = bnb.nn.Linear4bit(64, 64, bias=False, quant_type="nf4").to(device)
        layer(torch.zeros(1, 64, device=device))
    except Exception as err:
        raise ConfigError(
            "peft.quantization",
            f"bitsandbytes {getattr(bnb, '__version__', '?')} cannot run 4-bit layers on {device}: {err}",
            hint,
        ) from err


# ----------------------------------------------------------------------------- apply


def _task_type(kind: str):
    from peft import TaskType

    return TaskType.SEQ_2_SEQ_LM if kind == "seq2seq" else TaskType.CAUSAL_LM


def build_peft_config(spec: PeftSpec, *, family: str, kind: str, total_steps: int,
                      new_token_ids: list[int] | None = None, model_heads: Sequence[str] = ()):
    """``model_heads``: modules the model adds on top of its architecture (the copy head)
    that start untrained, so an adapter method must train them in full."""
    import peft

    kwargs = dict(spec.config)
    kwargs["task_type"] = _task_type(kind)
    method = spec.method
    if method in ("lora", "qlora", "adalora", "ia3"):
        kwargs["target_modules"] = list(spec.for_family("target_modules", family, required=True))
    elif model_heads:
        raise ConfigError(
            "peft.method",
            f"{method} cannot train the model's own heads {list(model_heads)}: they would stay "
            "randomly initialised",
            "use peft=lora / qlora / adalora / ia3 (they train those heads in full) or peft=none",
        )
    modules_to_save = list(dict.fromkeys(
        [*(spec.for_family("modules_to_save", family, required=False) or ()), *model_heads]
    ))
    if modules_to_save:
        kwargs["modules_to_save"] = modules_to_save
    if method in ("lora", "qlora"):
        if new_token_ids and spec.train_new_token_embeddings:
            # rows of tokens we added to a pretrained vocabulary start untrained: train just
            # those rows (peft's trainable tokens), not the whole embedding matrix
            kwargs["trainable_token_indices"] = list(new_token_ids)
        return peft.LoraConfig(**kwargs)
    if method == "adalora":
        tinit = int(spec.tinit_fraction * total_steps)
        tfinal = int(spec.tfinal_fraction * total_steps)
        if total_steps - tinit - tfinal <= 0:
            raise ConfigError(
                "peft.tinit_fraction",
                f"AdaLoRA needs tinit + tfinal < total steps ({tinit} + {tfinal} >= {total_steps})",
            )
        return peft.AdaLoraConfig(total_step=total_steps, tinit=tinit, tfinal=tfinal, **kwargs)
    if method == "ia3":
        kwargs["feedforward_modules"] = list(
            spec.for_family("feedforward_modules", family, required=True)
        )
        return peft.IA3Config(**kwargs)
    if method == "prefix":
        return peft.PrefixTuningConfig(**kwargs)
    if method == "prompt":
        return peft.PromptTuningConfig(**kwargs)
    raise ConfigError("peft.method", f"{method!r} has no PEFT config")  # pragma: no cover


def apply_peft(model, spec: PeftSpec, *, family: str, kind: str, total_steps: int,
               gradient_checkpointing: bool = False, new_token_ids: list[int] | None = None):
    """Wrap ``model`` for ``spec.method`` (returns it unchanged for full fine-tuning)."""
    if gradient_checkpointing and spec.method == "prefix":
        raise ConfigError(
            "trainer.gradient_checkpointing",
            "prefix tuning cannot be combined with gradient checkpointing (peft refuses it: the "
            "prefixes live in the attention cache that checkpointing recomputes)",
            "set trainer.gradient_checkpointing=false, or use peft=lora / peft=prompt",
        )
    if gradient_checkpointing:
        model.config.use_cache = False
    if not spec.is_peft:
        if gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return model
    import peft

    if spec.quantization:
        model = peft.prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        # frozen embeddings give checkpointed blocks inputs without grad; peft's adapters
        # inside need them to require grad
        model.enable_input_require_grads()
    config = build_peft_config(
        spec, family=family, kind=kind, total_steps=total_steps, new_token_ids=new_token_ids,
        model_heads=tuple(getattr(model, "peft_modules_to_save", ())),
    )
    return peft.get_peft_model(model, config)


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters; 4-bit weights counted unpacked (as peft does)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable, total = model.get_nb_trainable_parameters()
        return int(trainable), int(total)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
