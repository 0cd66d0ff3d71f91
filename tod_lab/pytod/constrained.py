"""Grammar-constrained decoding of Action Parser programs (``system.agent.constrained_decoding``).

The AP writes a program token by token; a small model trained from scratch sometimes
writes a statement no parser accepts (``price_range=", class_="``), repeats itself
(``" italian " italian " italian``), or writes a memorised value that nobody said
("garden lodge" when the agent offered "crown hotel"). :class:`ProgramConstraint` says,
for one prompt, whether a partial output can still become a well-formed program of that
prompt's services, so that generation (see
:class:`tod_lab.models.generate.ViablePrefixLogitsProcessor`) takes the model's
best-scoring token that keeps the output viable:

- the shape is the program language of :mod:`tod_lab.pytod.program` (tool calls, attribute
  assignments, ``pass``; statements joined by ``<new>``), with tool names from the
  dialogue's services and the tool statements, slot names from their schemas and
  variables that the prompt shows;
- a categorical slot's value is one the runtime accepts for *that* slot (a choice, a
  number word for a numeric choice, ``dontcare``): ``genre=" 3d "`` is cut off before it is
  written, so a beam with ``show_type=" 3d "`` can win instead of a rejected statement;
- every other string value is copied from the prompt (a span of it between word
  boundaries, never one with code in it) or is a categorical value of those services (or
  ``dontcare``);
- a call names each argument once (the runtime rejects the whole call otherwise).

This only steers *decoding*: the output is still parsed and validated by
:mod:`tod_lab.pytod.program` / the interpreter like any other model output, and nothing
here executes anything. Why by hand: transformers' constraint helpers
(``prefix_allowed_tokens_fn``, ``DisjunctiveConstraint``) need the allowed token ids up
front, while a program's grammar is easiest to state over characters; the ``regex``
package's partial matching gives the prefix test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import regex

from tod_lab.data.types import DONTCARE
from tod_lab.models.generate import CopyableValues, viable_choice, word_alternation
from tod_lab.pytod.interpreter import TOOL_STATEMENTS
from tod_lab.pytod.program import NEW_STATEMENT
from tod_lab.pytod.prompts import NO_STATEMENTS
from tod_lab.pytod.simulator import ApiCatalog

PROMPT_VARIABLE_RE = re.compile(r"\bx\d{1,6}\b")
# a variable in an output; group 2 is set when it is a label ("x3 = call(...)", "x5: ...")
VARIABLE_USE_RE = re.compile(r"\b(x\d{1,6})\b(\s*(?:=(?!=)|:))?")
# string constants of the program language never contain a quote (the renderer writes
# JSON escapes, which the toy / SGD values do not need)
QUOTED_RE = re.compile(r'"([^"]*)"')
# slot keyword of tool statements (select(..., from_results=x3))
EXTRA_KEYWORDS = ("from_results",)
# the slot a string value is written for: the code before its opening quote ends in
# `slot="` (call argument) or `x3.slot = "` (assignment)
VALUE_KEY_RE = re.compile(r"(\w+)\s*=\s*$")
# the argument list of each call in the code outside string constants (may be unfinished)
CALL_ARGS_RE = re.compile(r"\(([^()]*)(?:\)|$)")
KEYWORD_RE = re.compile(r"(\w+)\s*=(?!=)")


@lru_cache(maxsize=256)
def _grammar(tools: tuple[str, ...], slots: tuple[str, ...]):
    # compiled once per set of services (compiling takes ~0.1 s); which variables a
    # prompt has is checked separately (_variables_ok)
    ws = r"\s*"
    var = r"x\d{1,6}"
    slot = word_alternation(slots)
    const = r'(?:"[^"\n]*"|-?\d+(?:\.\d+)?|true|false|none)'
    expr = rf"(?:{const}|{var}(?:\.{slot})?)"
    arg = rf"(?:{slot}{ws}={ws}{expr}|{expr})"
    call = rf"{word_alternation(tools)}\({ws}(?:{arg}(?:{ws},{ws}{arg})*)?{ws}\)"
    assign = rf"{var}\.{slot}{ws}={ws}{expr}"
    assigns = rf"{assign}(?:{ws};{ws}{assign})*"
    # an optional label: "x3 = call(...)" / "x5: x1.a = 1" (targets with labels)
    statement = rf"(?:{var}{ws}={ws}{call}|{var}{ws}:{ws}{assigns}|{call}|{assigns})"
    sep = rf"{ws}{regex.escape(NEW_STATEMENT)}{ws}"
    program = rf"{ws}(?:{NO_STATEMENTS}|{statement}(?:{sep}{statement})*){ws}"
    return regex.compile(program)


class ProgramConstraint:
    """Whether a (partial) AP output can still be a well-formed program for one prompt."""

    def __init__(self, prompt: str, tools: Sequence[str], slots: Sequence[str],
                 categorical_values: Iterable[str],
                 slot_forms: Mapping[str, frozenset[str]] | None = None):
        self.prompt = prompt.lower()
        self.variables = frozenset(PROMPT_VARIABLE_RE.findall(self.prompt))
        self.pattern = _grammar(tuple(sorted(set(tools) | TOOL_STATEMENTS)),
                                tuple(sorted(set(slots) | set(EXTRA_KEYWORDS))))
        self.values = CopyableValues(self.prompt, [*categorical_values, DONTCARE])
        # slot -> the texts the runtime accepts for it, for the categorical slots only
        self.slot_forms = dict(slot_forms or {})

    @classmethod
    def for_prompt(cls, prompt: str, catalog: ApiCatalog, services: Sequence[str]) -> ProgramConstraint:
        known = [s for s in services if s in catalog.services]
        tools = [api.tool for api in catalog.tools_of(known)]
        slots, values = [], []
        forms: dict[str, set[str]] = {}
        free: set[str] = set()  # names that are a free-text slot in one of the services
        for name in known:
            for slot in catalog.services[name].slots.values():
                slots.append(slot.ident)
                accepted = slot.accepted_forms()
                if accepted is None:
                    free.add(slot.ident)
                else:
                    values += slot.possible_values
                    forms.setdefault(slot.ident, set()).update(accepted)
        slot_forms = {k: frozenset(v) for k, v in forms.items() if k not in free}
        return cls(prompt, tools, slots, values, slot_forms)

    # -- values and variables -------------------------------------------------------
    def _values_ok(self, text: str) -> bool:
        parts = text.split('"')
        # parts[1], parts[3], ... are inside quotes; an even count of parts = an open value
        open_value = len(parts) % 2 == 0
        for i in range(1, len(parts), 2):
            value = parts[i]
            complete = not (open_value and i == len(parts) - 1)
            if "=" in value:
                return False  # a span of the prompt's code ('", number_of_days="'), no value
            key = VALUE_KEY_RE.search(parts[i - 1])
            forms = self.slot_forms.get(key.group(1)) if key else None
            if forms is None:
                if not self.values.allows(value, complete=complete):
                    return False
            elif not _accepted(value, forms, complete=complete):
                return False  # genre=" 3d ": the runtime would reject it
        return True

    @staticmethod
    def _keywords_ok(code: str) -> bool:
        """No call names one argument twice (the runtime rejects the whole call)."""
        for args in CALL_ARGS_RE.finditer(code):
            keywords = KEYWORD_RE.findall(args.group(1))
            if len(keywords) != len(set(keywords)):
                return False
        return True

    def _variables_ok(self, code: str, *, complete: bool) -> bool:
        """Variables the output *uses* are ones the prompt shows (labels are new ones)."""
        for match in VARIABLE_USE_RE.finditer(code):
            name = match.group(1)
            if not complete and not code[match.end():].strip():
                continue  # still being written ("x2" of "x25"), or a label to come
            if match.group(2) is None and name not in self.variables:
                return False
        return True

    # -- the two questions generation asks ------------------------------------------
    def viable(self, text: str) -> bool:
        """Can ``text`` be continued into a program this prompt allows?"""
        if self.pattern.fullmatch(text, partial=True) is None:
            return False
        code = _code(text)
        return (self._variables_ok(code, complete=False) and self._values_ok(text)
                and self._keywords_ok(code))

    def complete(self, text: str) -> bool:
        """Is ``text`` a whole program this prompt allows (may generation stop here)?"""
        if self.pattern.fullmatch(text) is None:
            return False
        code = _code(text)
        return (self._variables_ok(code, complete=True) and self._values_ok(text)
                and self._keywords_ok(code))


def _code(text: str) -> str:
    """An output without its string constants (what is between quotes)."""
    return "".join(text.split('"')[0::2])


def _accepted(value: str, forms: frozenset[str], *, complete: bool) -> bool:
    """A categorical slot's value: one of ``forms``, or (unfinished) a prefix of one."""
    return viable_choice(value, forms, complete=complete)


def quoted_values(text: str) -> list[str]:
    """The string constants of a program, stripped (for tests and diagnostics)."""
    return [v.strip() for v in QUOTED_RE.findall(text)]
