"""One error family for everything tod_lab reports to a user.

Every message names what the user has to look at (file, dialogue id, turn, config key)
and, where there is one, what to do about it. Code that catches a third-party exception
re-raises one of these ``from`` it so the traceback keeps the cause.
"""

from __future__ import annotations

from pathlib import Path


class TodLabError(Exception):
    """Base class: an error caused by the user's input or configuration."""


class ConfigError(TodLabError):
    """A config key holds something tod_lab cannot use."""

    def __init__(self, key: str, problem: str, hint: str | None = None):
        self.key = key
        message = f"config key '{key}': {problem}"
        if hint:
            message += f" — {hint}"
        super().__init__(message)


class DataError(TodLabError):
    """A data file (schema, dialogues, DB, predictions) is missing or malformed."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        dialogue_id: str | None = None,
        turn: int | None = None,
        hint: str | None = None,
    ):
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.dialogue_id = dialogue_id
        self.turn = turn
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if dialogue_id is not None:
            where.append(f"dialogue {dialogue_id}")
        if turn is not None:
            where.append(f"turn {turn}")
        message = (", ".join(where) + ": " if where else "") + problem
        if hint:
            message += f" — {hint}"
        super().__init__(message)


class ModelUnavailableError(TodLabError):
    """Weights or a tokenizer cannot be loaded (offline machine, wrong path)."""
