"""A Generator that answers from the gold training conversations.

It knows, for every prefix of every gold example conversation, the message that follows.
The agent only gets answers if the prompts it builds at inference are EXACTLY the training
prompts (same system message, same history rendering): an end-to-end run with this oracle
scoring perfectly proves train / inference prompt parity and exercises the whole loop.
"""

from __future__ import annotations

from typing import Any


def _key(messages) -> tuple:
    return tuple((m["role"], m["content"]) for m in messages)


class OracleGenerator:
    def __init__(self, rows: dict[str, list[dict[str, Any]]]):
        self.answers: dict[tuple, str] = {}
        for task_rows in rows.values():
            for row in task_rows:
                messages = row["messages"]
                for i, m in enumerate(messages):
                    if m["loss"]:
                        self.answers[_key(messages[:i])] = m["content"]
        self.misses = 0
        self.calls = 0
        self.strict_prefixes = True  # a forced prefix the gold answer lacks fails the test
        # with constraints: every gold answer (and each prefix of it) must be allowed
        self.constrained = 0
        self.rejected: list[str] = []

    def _check(self, constraint, text: str) -> None:
        self.constrained += 1
        if not (constraint.complete(text) and all(constraint.viable(text[:i]) for i in range(len(text)))):
            self.rejected.append(text)

    def generate(self, prompts, *, max_new_tokens=None, num_beams=None, stop=None, prefixes=None,
                 constraints=None):
        out = []
        for i, prompt in enumerate(prompts):
            self.calls += 1
            answer = self.answers.get(_key(prompt))
            if answer is None:
                self.misses += 1
                out.append("")
                continue
            prefix = prefixes[i] if prefixes else ""
            if not answer.startswith(prefix) and not self.strict_prefixes:
                out.append("")  # forced off the gold answer: nothing useful follows
                continue
            assert answer.startswith(prefix), (answer, prefix)
            text = answer[len(prefix):]
            if constraints and constraints[i] is not None:
                self._check(constraints[i], text)
            for s in stop or ():
                if s in text:
                    text = text[: text.index(s)]
            out.append(text)
        return out

    def score_options(self, prompt, options):
        """0 for the options the gold answer starts with, a very low score for the others."""
        self.calls += 1
        answer = self.answers.get(_key(prompt))
        if answer is None:
            self.misses += 1
            return [0.0] * len(options)
        return [0.0 if answer.startswith(option) else -1e9 for option in options]
