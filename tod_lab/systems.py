"""The seam between a TOD system (PyTOD, Spec-TOD, ...) and the training core.

A system turns dialogues into training examples and runs its agent loop; it talks to the
model only through a :class:`Generator`. The training core never imports a system, and a
system never imports Lightning. ``cfg.system`` instantiates an object satisfying
:class:`System`; the pipeline (``tod_lab/pipeline.py``) drives it:

    examples = system.build_examples(train_split, seed=cfg.seed)      # {task: Dataset}
    bundle   = tod_lab.models.train(cfg, examples, run_dir)           # skipped if not needed
    result   = system.run(eval_split, generator, run_dir)              # predictions + metrics

Optional: ``system.tokenizer_tokens() -> tuple[str, ...]``, called after ``build_examples``:
atomic tokens the system's texts use, added to the tokenizer (``train(added_tokens=...)``).
A generator may also offer ``score_options_batch(prompts, options)``
(:class:`tod_lab.models.generate.BatchedGenerator` does): ``score_options`` for many prompts
in shared batches; callers fall back to ``score_options`` per prompt.

Example rows (``datasets.Dataset`` per task):
- seq2seq systems (``model_kind = "seq2seq"``): ``{"source": str, "target": str}``
- causal systems (``model_kind = "causal"``): ``{"messages": [{"role": str, "content": str,
  "loss": bool}, ...]}`` rendered with the tokenizer's chat template; the loss covers the
  tokens of messages with ``loss=True`` only (assistant / function-call parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from tod_lab.data.types import DialogueSplit

ModelKind = Literal["seq2seq", "causal"]


@runtime_checkable
class Generator(Protocol):
    """Batched generation over many prompts at once (one "wave" of dialogues)."""

    def generate(
        self,
        prompts: list[Any],  # str (seq2seq / raw causal) or a list of chat messages
        *,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        stop: list[str] | None = None,
        prefixes: list[str] | None = None,  # causal: forced start of each answer
        # per prompt: what the answer may be (tod_lab.models.generate.OutputConstraint)
        constraints: list[Any] | None = None,
    ) -> list[str]: ...

    def score_options(self, prompt: Any, options: list[str]) -> list[float]:
        """Log-likelihood of each option as the continuation of ``prompt``."""
        ...


@dataclass
class RunResult:
    """What ``System.run`` returns: metrics (each with its protocol) and written files."""

    metrics: dict[str, float]
    protocols: dict[str, str]  # metric name -> protocol ("sgd_official", "mwzeval", ...)
    main_metric: str
    files: dict[str, str] = field(default_factory=dict)  # role -> path (predictions, ...)
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class System(Protocol):
    name: str
    model_kind: ModelKind
    needs_training: bool

    def build_examples(self, train: DialogueSplit, *, seed: int) -> dict[str, Any]: ...

    def run(
        self, data: DialogueSplit, generator: Generator | None, run_dir: Path
    ) -> RunResult: ...
