"""Constrained DST calls (``system.agent.constrained_calls``).

After the forced prefix ``<function_call>{"function": "find_restaurant", "arguments":`` the
model writes the arguments object. :class:`CallArgumentsConstraint` lets generation keep
only continuations that stay a JSON object of that function's argument names with string
values that are an enum value of the argument, ``dontcare`` (and ``none`` in delta calls),
or a span of the conversation so far (see :class:`tod_lab.models.generate.CopyableValues`)
-- so a tiny model cannot write a restaurant nobody mentioned, and the call always closes.
The output is then read by :func:`tod_lab.spectod.state.read_call` like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import regex

from tod_lab.data.types import DONTCARE
from tod_lab.models.generate import CopyableValues, viable_choice, word_alternation
from tod_lab.spectod.functions import FunctionSpec
from tod_lab.spectod.prompts import CALL_CLOSE


@lru_cache(maxsize=256)
def _arguments_grammar(names: tuple[str, ...]):
    ws = r"\s*"
    pair = rf'"{word_alternation(names)}"{ws}:{ws}"[^"\n]*"'
    # the arguments object, the call's closing brace, then (optionally) the close tag
    return regex.compile(
        rf"{ws}\{{{ws}(?:{pair}(?:{ws},{ws}{pair})*)?{ws}\}}{ws}\}}{ws}(?:{regex.escape(CALL_CLOSE)})?{ws}"
    )


class CallArgumentsConstraint:
    """Whether a (partial) continuation of a call prefix is still an allowed call."""

    def __init__(self, spec: FunctionSpec, conversation: str, extra_values: tuple[str, ...] = ()):
        self.spec = spec
        self.pattern = _arguments_grammar(tuple(a.name for a in spec.arguments))
        self.values = CopyableValues(conversation)
        # values every argument may take besides its own: dontcare, and "none" in delta calls
        self.special = (DONTCARE, *extra_values)

    @classmethod
    def for_messages(cls, spec: FunctionSpec, messages: Iterable[dict], system_role: str,
                     extra_values: tuple[str, ...] = ()):
        """The conversation is every message but the system one (function specs)."""
        text = "\n".join(m["content"] for m in messages if m["role"] != system_role)
        return cls(spec, text, extra_values)

    def _values_ok(self, text: str) -> bool:
        quoted = text.split('"')[1::2]  # key, value, key, value, ... (the last may be open)
        open_string = text.count('"') % 2 == 1
        # each argument once: a tiny model looping '"name": "x", "name": "x", ...' never
        # closes the call (and JSON keeps only the last of repeated keys anyway)
        keys = quoted[0::2]
        if open_string and len(quoted) % 2 == 1:
            keys = keys[:-1]  # the key being written
        if len(set(keys)) < len(keys):
            return False
        for i in range(1, len(quoted), 2):
            argument = self.spec.argument(quoted[i - 1])
            if argument is None:
                return False
            choices = (*argument.enum, *self.special)
            complete = not (open_string and i == len(quoted) - 1)
            if argument.enum:
                # categorical: one of the enum (the state keeps the schema's spelling)
                if not viable_choice(quoted[i], choices, complete=complete):
                    return False
            elif not self.values.allows(quoted[i], complete=complete, allowed=self.special):
                return False
        return True

    def viable(self, text: str) -> bool:
        return self.pattern.fullmatch(text, partial=True) is not None and self._values_ok(text)

    def complete(self, text: str) -> bool:
        return self.pattern.fullmatch(text) is not None and self._values_ok(text)
