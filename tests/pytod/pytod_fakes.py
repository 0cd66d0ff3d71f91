"""Generators for agent tests: an oracle that answers every prompt the gold examples contain
(proving train / inference prompt parity), and scripted ones for the ablation switches."""

from __future__ import annotations

from collections.abc import Callable

from tod_lab.data.types import DialogueSplit
from tod_lab.pytod.examples import ExampleSettings, example_rows
from tod_lab.pytod.prompts import UNANSWERABLE, PromptSettings


class OracleGenerator:
    """Answers AP prompts with the gold target of the identical dev/test example prompt."""

    def __init__(self, split: DialogueSplit, prompts: PromptSettings,
                 settings: ExampleSettings | None = None):
        ap, _, _ = example_rows(split, seed=0, train=False, prompts=prompts,
                                settings=settings or ExampleSettings())
        self.answers = {row["source"]: row["target"] for row in ap}
        self.prompts: list[str] = []
        self.misses: list[str] = []
        self.calls = 0
        # with constraints: every gold answer (and each prefix of it) should be allowed
        self.constrained = 0
        self.rejected: list[tuple[str, str]] = []  # (prompt, gold answer)

    def _check(self, constraint, answer: str) -> None:
        self.constrained += 1
        if not (constraint.complete(answer)
                and all(constraint.viable(answer[:i]) for i in range(len(answer)))):
            self.rejected.append((constraint.prompt, answer))

    def generate(self, prompts, constraints=None, **kwargs):
        self.calls += 1
        out = []
        for i, prompt in enumerate(prompts):
            self.prompts.append(prompt)
            if prompt.startswith("q: answer the following questions"):
                n = prompt.count("?")
                out.append(" ".join(f"{i + 1}) {UNANSWERABLE}" for i in range(n)))
            elif prompt in self.answers:
                out.append(self.answers[prompt])
                if constraints is not None and constraints[i] is not None:
                    self._check(constraints[i], self.answers[prompt])
            else:
                self.misses.append(prompt)
                out.append("pass")
        return out

    def generate_candidates(self, prompts, constraints=None, **kwargs):
        """One beam per prompt: the gold answer (execution-guided decoding keeps it)."""
        return [[text] for text in self.generate(prompts, constraints=constraints)]

    def score_options(self, prompt, options):
        return [0.0 for _ in options]


class ScriptedGenerator:
    """``respond(prompt) -> text``; records every prompt; scores options by a table."""

    def __init__(self, respond: Callable[[str], str], scores: list[float] | None = None):
        self.respond = respond
        self.scores = scores
        self.prompts: list[str] = []
        self.scored: list[tuple[str, list[str]]] = []
        self.batch_sizes: list[int] = []

    def generate(self, prompts, **kwargs):
        self.batch_sizes.append(len(prompts))
        self.prompts += prompts
        return [self.respond(p) for p in prompts]

    def score_options(self, prompt, options):
        self.scored.append((prompt, list(options)))
        scores = self.scores or [0.0] * len(options)
        return [scores[i] if i < len(scores) else -100.0 for i in range(len(options))]


class BeamGenerator(ScriptedGenerator):
    """``respond(prompt) -> [beam, ...]`` best first: ``generate`` gives the best beam,
    ``generate_candidates`` all of them (what execution-guided decoding reads)."""

    def __init__(self, respond: Callable[[str], list[str]]):
        super().__init__(lambda prompt: respond(prompt)[0])
        self.beams = respond
        self.candidate_calls = 0

    def generate_candidates(self, prompts, **kwargs):
        self.candidate_calls += 1
        self.prompts += prompts
        return [self.beams(p) for p in prompts]
