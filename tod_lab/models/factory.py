"""Build models and tokenizers from ``cfg.model``: tiny ones from config, real ones offline.

``model.source: config`` builds a randomly initialised model from ``model.architecture``
(a ``transformers`` config with ``_target_``) and a tokenizer trained on the examples'
text. ``model.source: pretrained`` loads ``model.name_or_path`` from a local directory or
the local Hugging Face cache only: this machine has no hub access, and a miss must fail at
once (transformers' own ``local_files_only`` path still retries the network for ~20 s).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from tod_lab.errors import ConfigError, ModelUnavailableError
from tod_lab.models.tokenizers import TokenizerSpec, add_tokens_to_pretrained, train_tokenizer

log = logging.getLogger(__name__)

MODEL_KINDS = ("seq2seq", "causal")
BUNDLE_FILE = "bundle.json"


@dataclass(frozen=True)
class ModelSpec:
    """``cfg.model`` as a typed value (validated once, at the boundary)."""

    name: str
    kind: str  # seq2seq | causal
    family: str  # t5 | llama | qwen2: selects PEFT target modules
    source: str  # config | pretrained
    name_or_path: str | None = None
    architecture: Mapping[str, Any] | None = None
    tokenizer: Mapping[str, Any] = field(default_factory=dict)
    added_tokens: tuple[str, ...] = ()
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    max_source_length: int = 1024  # seq2seq encoder input
    max_target_length: int = 256  # seq2seq decoder labels
    max_length: int = 2048  # causal: whole conversation
    truncation_side: str | None = None  # default: right for seq2seq, left for causal
    role_map: Mapping[str, str] = field(default_factory=dict)  # chat roles the template lacks
    block_classes: tuple[str, ...] = ()  # FSDP wrapping units
    generation: Mapping[str, Any] = field(default_factory=dict)
    attn_implementation: str | None = None
    # config-built models only: add a copy (pointer-generator) head (tod_lab/models/pointer.py)
    copy_head: bool = False

    @classmethod
    def from_config(cls, cfg: DictConfig | Mapping | None) -> ModelSpec:
        if cfg is None:
            raise ConfigError("model", "no model configured", "choose one: model=t5_tiny|llama_tiny|flan_t5_base|...")
        raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError("model", f"unknown keys {unknown}", f"known keys: {sorted(known)}")
        for key in ("name", "kind", "family", "source"):
            if not raw.get(key):
                raise ConfigError(f"model.{key}", "is required")
        if raw["kind"] not in MODEL_KINDS:
            raise ConfigError("model.kind", f"{raw['kind']!r} is not one of {MODEL_KINDS}")
        if raw["source"] not in ("config", "pretrained"):
            raise ConfigError("model.source", f"{raw['source']!r}", "use config or pretrained")
        if raw["source"] == "config" and not raw.get("architecture"):
            raise ConfigError("model.architecture", "a config-built model needs an architecture")
        if raw.get("copy_head") and raw["source"] != "config":
            raise ConfigError(
                "model.copy_head", "only models built from config (model.source=config) get a copy head",
                "a pretrained checkpoint has no trained head; set model.copy_head=false",
            )
        if raw["source"] == "pretrained" and not raw.get("name_or_path"):
            raise ConfigError(
                "model.name_or_path", "is empty", "set it to a local directory holding the model"
            )
        raw["added_tokens"] = tuple(raw.get("added_tokens") or ())
        raw["block_classes"] = tuple(raw.get("block_classes") or ())
        raw["tokenizer"] = dict(raw.get("tokenizer") or {})
        raw["role_map"] = dict(raw.get("role_map") or {})
        raw["generation"] = dict(raw.get("generation") or {})
        return cls(**raw)

    @property
    def effective_truncation_side(self) -> str:
        return self.truncation_side or ("right" if self.kind == "seq2seq" else "left")

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("added_tokens", "block_classes"):
            out[key] = list(out[key])
        out["architecture"] = dict(out["architecture"]) if out["architecture"] else None
        return out


def auto_model_class(kind: str):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    import tod_lab.models.pointer  # noqa: F401  registers t5_copy / llama_copy with the Auto classes

    return AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM


def resolve_dtype(spec: ModelSpec, *, peft_method: str | None, on_gpu: bool) -> torch.dtype:
    """``auto``: float32 on CPU; on GPU bf16 for a frozen (PEFT) base, fp32 master weights
    for full fine-tuning (Lightning's bf16-mixed autocasts the compute)."""
    if spec.dtype == "auto":
        if on_gpu and peft_method not in (None, "none"):
            return torch.bfloat16
        return torch.float32
    try:
        return getattr(torch, spec.dtype)
    except AttributeError as err:
        raise ConfigError("model.dtype", f"unknown dtype {spec.dtype!r}") from err


# ----------------------------------------------------------------------------- pretrained


def resolve_local_path(spec: ModelSpec) -> Path:
    """A local directory for ``model.name_or_path`` or a ModelUnavailableError, at once."""
    name = str(spec.name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(
                f"model.name_or_path={name!r} is a directory without config.json — point it at "
                "a directory written by save_pretrained (config.json, weights, tokenizer files)"
            )
        return path
    if path.is_absolute() or name.startswith((".", "~")):
        raise ModelUnavailableError(
            f"model.name_or_path={name!r} ({spec.name}) does not exist — set model.name_or_path "
            "to a local copy of the model"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as err:  # LocalEntryNotFoundError, HFValidationError, ...
        raise ModelUnavailableError(
            f"model {spec.name}: {name!r} is not a local directory and is not in the local "
            "Hugging Face cache, and this machine cannot download it. On a machine with "
            f"network run `huggingface-cli download {name} --local-dir /models/{name.split('/')[-1]}`, "
            f"copy that directory here and run with model.name_or_path=/models/{name.split('/')[-1]}"
        ) from err


def load_pretrained_tokenizer(spec: ModelSpec, path: Path, added_tokens: Sequence[str] = ()):
    """The model's own tokenizer plus our added tokens; returns (tokenizer, new tokens)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as err:
        raise ModelUnavailableError(
            f"model {spec.name}: cannot load a tokenizer from {path}: {err}"
        ) from err
    new_tokens = add_tokens_to_pretrained(tokenizer, [*spec.added_tokens, *added_tokens])
    if tokenizer.pad_token is None:
        # Llama 3 ships without a pad token; labels are masked by our loss mask, not by pad
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.truncation_side = spec.effective_truncation_side
    return tokenizer, new_tokens


def load_pretrained_model(
    spec: ModelSpec, path: Path, tokenizer, *, dtype: torch.dtype, quantization_config=None
):
    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if spec.attn_implementation:
        kwargs["attn_implementation"] = spec.attn_implementation
    try:
        model = auto_model_class(spec.kind).from_pretrained(str(path), **kwargs)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(f"model {spec.name}: cannot load weights from {path}: {err}") from err
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return model


# ----------------------------------------------------------------------------- config-built


def build_tiny_tokenizer(spec: ModelSpec, texts: Sequence[str], cache_dir: str | Path,
                         added_tokens: Sequence[str] = ()):
    tok_spec = TokenizerSpec.from_config(
        {**spec.tokenizer, "model_max_length": spec.max_length if spec.kind == "causal"
         else spec.max_source_length},
        chat=spec.kind == "causal",
        added_tokens=[*spec.added_tokens, *added_tokens],
    )
    tokenizer = train_tokenizer(texts, tok_spec, cache_dir)
    tokenizer.truncation_side = spec.effective_truncation_side
    return tokenizer


def build_config_model(spec: ModelSpec, tokenizer, *, seed: int):
    """A randomly initialised model whose vocabulary and special ids match ``tokenizer``."""
    from hydra.utils import instantiate
    from transformers import set_seed

    arch = dict(spec.architecture or {})
    arch.update(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    if spec.kind == "seq2seq":
        arch["decoder_start_token_id"] = tokenizer.pad_token_id
    try:
        config = instantiate(arch)
    except Exception as err:
        raise ConfigError("model.architecture", f"cannot build the model config: {err}") from err
    if spec.copy_head:
        from tod_lab.models.pointer import with_copy_head

        config = with_copy_head(config)
    set_seed(seed)
    model = auto_model_class(spec.kind).from_config(config)
    _generate_without_cache_if_decoder_depth_differs(model)
    return model


def _generate_without_cache_if_decoder_depth_differs(model) -> None:
    """transformers 5 sizes a T5 generation cache by ``num_layers`` (the encoder's depth):
    with ``num_decoder_layers`` larger, cached generation fails with an IndexError after
    the whole training. Decode without the cache instead (saved with the model); for a
    seq2seq model that only recomputes the decoder over the short generated prefix."""
    config = model.config
    decoder_layers = getattr(config, "num_decoder_layers", None)
    if config.is_encoder_decoder and decoder_layers not in (None, getattr(config, "num_layers", None)):
        model.generation_config.use_cache = False
        log.warning(
            "model.architecture: num_decoder_layers=%s != num_layers=%s; generating without the "
            "key/value cache (transformers sizes the cache by num_layers)",
            decoder_layers, config.num_layers,
        )


def texts_for_tokenizer(examples: Mapping[str, Any]) -> list[str]:
    """Every string the model will read or write: sources, targets, message contents."""
    texts: list[str] = []
    for dataset in examples.values():
        columns = set(dataset.column_names)
        if {"source", "target"} <= columns:
            texts.extend(dataset["source"])
            texts.extend(dataset["target"])
        elif "messages" in columns:
            for messages in dataset["messages"]:
                texts.extend(m["content"] for m in messages)
    return texts


# ----------------------------------------------------------------------------- bundle


@dataclass
class ModelBundle:
    """A model ready to generate, with its tokenizer and where it came from."""

    model: Any  # transformers PreTrainedModel or peft PeftModel
    tokenizer: Any
    spec: ModelSpec
    peft_method: str = "none"
    export_dir: Path | None = None  # <run_dir>/model: bundle.json, tokenizer/, base/, adapter/|full/
    train_metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.spec.kind

    def generator(self, **overrides):
        """A :class:`~tod_lab.models.generate.BatchedGenerator` over this model."""
        from tod_lab.models.generate import BatchedGenerator

        return BatchedGenerator.from_bundle(self, **overrides)


def export_bundle(bundle: ModelBundle, out_dir: Path, *, base_dir: Path | None,
                  quantization: Mapping[str, Any] | None = None) -> Path:
    """Write the model so plain transformers / peft can load it (and :func:`load_bundle`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle.tokenizer.save_pretrained(str(out_dir / "tokenizer"))
    if bundle.peft_method == "none":
        bundle.model.save_pretrained(str(out_dir / "full"))
        # a complete HF model dir: AutoModel / AutoTokenizer.from_pretrained(full/) both work
        bundle.tokenizer.save_pretrained(str(out_dir / "full"))
        weights = "full"
    else:
        bundle.model.save_pretrained(str(out_dir / "adapter"))
        weights = "adapter"
    if base_dir is not None:
        base = "base" if base_dir.resolve() == (out_dir / "base").resolve() else str(base_dir)
    else:
        base = str(bundle.spec.name_or_path)
    info = {
        "model": bundle.spec.to_json(),
        "peft_method": bundle.peft_method,
        "weights": weights,
        "base": base,
        # QLoRA: the adapter was trained on a 4-bit base; reloading re-quantises it so the
        # reloaded model computes what the trained one did
        "quantization": dict(quantization) if quantization else None,
        "train_metrics": bundle.train_metrics,
    }
    (out_dir / BUNDLE_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")
    bundle.export_dir = out_dir
    return out_dir


def load_bundle(path: str | Path, *, device: str | torch.device | None = None,
                quantization_config=None) -> ModelBundle:
    """Reload what :func:`export_bundle` wrote (``<run_dir>/model`` or the run dir itself)."""
    from transformers import AutoTokenizer

    root = Path(path)
    if not (root / BUNDLE_FILE).is_file() and (root / "model" / BUNDLE_FILE).is_file():
        root = root / "model"
    info_file = root / BUNDLE_FILE
    if not info_file.is_file():
        raise ModelUnavailableError(
            f"no trained model at {path}: {BUNDLE_FILE} not found — pass the run directory of "
            "a finished training run (it holds model/bundle.json)"
        )
    info = json.loads(info_file.read_text())
    spec = ModelSpec.from_config(info["model"])
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    model_cls = auto_model_class(spec.kind)
    if info["weights"] == "full":
        model = model_cls.from_pretrained(str(root / "full"))
    else:
        from peft import PeftModel

        base_path = root / info["base"] if info["base"] == "base" else resolve_local_path(
            ModelSpec.from_config({**info["model"], "name_or_path": info["base"]})
        )
        if quantization_config is None and info.get("quantization"):
            from tod_lab.models.peft import PeftSpec
            from tod_lab.models.peft import quantization_config as build_quantization

            quantization_config = build_quantization(
                PeftSpec(method="qlora", quantization=info["quantization"]),
                on_gpu=torch.cuda.is_available(),
            )
        kwargs = {"quantization_config": quantization_config} if quantization_config else {}
        base = model_cls.from_pretrained(str(base_path), **kwargs)
        if base.get_input_embeddings().num_embeddings < len(tokenizer):
            base.resize_token_embeddings(len(tokenizer))
        model = PeftModel.from_pretrained(base, str(root / "adapter"))
    model.eval()
    if device is not None:
        model.to(device)
    return ModelBundle(
        model=model,
        tokenizer=tokenizer,
        spec=spec,
        peft_method=info["peft_method"],
        export_dir=root,
        train_metrics=info.get("train_metrics", {}),
    )
