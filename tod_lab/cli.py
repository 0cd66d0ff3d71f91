"""Shared bits of tod_lab's command-line entry points."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tod_lab.errors import TodLabError

# conf/ lives next to the package in a source checkout (pip install -e .)
CONFIG_PATH = str(Path(__file__).resolve().parent.parent / "conf")

F = TypeVar("F", bound=Callable)
log = logging.getLogger("tod_lab")


def report_errors(func: F) -> F:
    """Turn a :class:`TodLabError` into one clear line on stderr and exit status 2.

    Anything else is a bug in tod_lab and keeps its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TodLabError as err:
            print(f"tod_lab error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
