"""The training core: models, tokenizers, PEFT, Lightning training, batched generation.

Public API (imported lazily, so ``tod_lab.models.generate`` does not pull in Lightning):

- ``tod_lab.models.train.train(cfg, examples, run_dir, *, model_kind=None,
  val_examples=None, added_tokens=()) -> ModelBundle``: fine-tune ``cfg.model`` with
  ``cfg.peft`` on ``{task: Dataset}`` (``tod_lab.models.train`` is the module).
- ``tod_lab.models.train.train_and_build_generator(cfg, examples, run_dir, *, model_kind)
  -> BatchedGenerator``: the same, returning the generator (what the pipeline calls).
- ``load_bundle(run_dir_or_model_dir) -> ModelBundle``: reload a trained model.
- ``build_bundle(cfg, *, model_kind=None, texts=None) -> ModelBundle``: untrained (zero-shot).
- ``ModelBundle.generator(**overrides) -> BatchedGenerator`` (a ``tod_lab.systems.Generator``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_bundle": "tod_lab.models.train",
    "train_and_build_generator": "tod_lab.models.train",
    "TrainSettings": "tod_lab.models.train",
    "ModelBundle": "tod_lab.models.factory",
    "ModelSpec": "tod_lab.models.factory",
    "load_bundle": "tod_lab.models.factory",
    "BatchedGenerator": "tod_lab.models.generate",
    "GenerationSettings": "tod_lab.models.generate",
    "PeftSpec": "tod_lab.models.peft",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tod_lab.models' has no attribute {name!r}")
