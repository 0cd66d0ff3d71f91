"""Building utterances from templates while recording exact character spans.

Every value a template inserts is placed by this module, so its span is known by
construction (never searched for afterwards): ``text[start:end] == value`` always holds.
Written by hand because no template library reports where each substitution landed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

_FORMATTER = string.Formatter()


@dataclass(frozen=True, slots=True)
class Mention:
    """A value a template inserts: which slot it fills and whether it is span-annotated."""

    slot: str
    surface: str
    annotate: bool = True  # non-categorical values get a span; categorical ones do not
    service: str = ""  # the frame the span belongs to


@dataclass(frozen=True, slots=True)
class Span:
    slot: str
    start: int
    end: int
    surface: str
    service: str = ""


@dataclass
class UtteranceBuilder:
    """Concatenates sentences; ``add`` fills one template and records its spans."""

    parts: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    length: int = 0

    def add(self, template: str, mentions: dict[str, Mention] | None = None) -> None:
        """Append ``template`` (``{name}`` placeholders filled from ``mentions``).

        Sentences are separated by one space and start with a capital letter when the
        template starts with literal text (a value is never re-cased: its span must match).
        """
        mentions = mentions or {}
        if self.parts:
            self._append(" ")
        first = True
        for literal, name, _spec, _conv in _FORMATTER.parse(template):
            if literal:
                if first:
                    literal = literal[0].upper() + literal[1:]
                self._append(literal)
                first = False
            if name is not None:
                if name not in mentions:
                    raise KeyError(f"template {template!r} needs a value for {name!r}")
                mention = mentions[name]
                self._fix_article(mention.surface)
                start = self.length
                self._append(mention.surface)
                if mention.annotate:
                    self.spans.append(
                        Span(mention.slot, start, self.length, mention.surface, mention.service)
                    )
                first = False

    def _fix_article(self, following: str) -> None:
        """"a Indian restaurant" -> "an Indian restaurant" (the value itself is untouched)."""
        if not self.parts or not following or following[0].lower() not in "aeiou":
            return
        if following.lower().startswith(("uni", "use", "one", "eu")):  # "a United flight"
            return
        last = self.parts[-1]
        if last.endswith(" a ") or last in ("a ", "A "):
            self.parts[-1] = last[:-2] + "an "
            self.length += 1

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def placeholders(template: str) -> tuple[str, ...]:
    """The placeholder names of a template, in order."""
    return tuple(name for _lit, name, _s, _c in _FORMATTER.parse(template) if name is not None)
