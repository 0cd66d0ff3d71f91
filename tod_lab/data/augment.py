"""Value-swap augmentation: one training example again, with other values for its slots.

A small model trained from scratch on a few thousand dialogues memorises which values go
with which words instead of learning where to copy them from: pytod_tiny (pt29) matched
96.5% of training turns teacher-forced but 79.5% of test turns. Swapping each value of
the target for another value said for the same (service, slot) somewhere in the split,
in the prompt and the target alike, keeps the example true (same words around it, same
program) and breaks those associations. This is the value-replacement augmentation of
the DST literature; it is written here because it works on our own types (schema slot
spans, rendered prompt / target text) and no library we keep does it.

By default only values of non-categorical slots are swapped (what a categorical value
means can depend on the words around it: "free wifi" -> ``internet: yes``; on request, the
possible values said verbatim swap too), only values the prompt actually says (a value
said nowhere is left alone), and never bare numbers (``2`` is also a party size, a star
rating and part of a date).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tod_lab.data.numbers import NUMBER_WORDS
from tod_lab.data.types import DONTCARE, DialogueSplit

SlotKey = tuple[str, str]  # (service name, schema slot name)

_MAX_VALUE_CHARS = 60
# never swapped even where said: "yes" is also the user's answer to every question
_BOOLEANS = frozenset({"true", "false", "yes", "no"})


def swappable(value: str) -> bool:
    """Whether a value can be swapped: some text, not a bare number, not ``dontcare``."""
    text = value.strip().lower()
    return (
        0 < len(text) <= _MAX_VALUE_CHARS
        and text != DONTCARE
        and not text.isdigit()
        and text not in NUMBER_WORDS
    )


def _said_in(value: str, text: str) -> bool:
    return boundary_pattern([value]).search(text) is not None


def boundary_pattern(values: Sequence[str]) -> re.Pattern[str]:
    # longest first ("san jose airport" before "san jose"); the \w look-arounds keep a
    # value from matching inside a longer word ("12th" in "112th")
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class SaidValues:
    """(service, slot) -> the distinct strings said for it in a split (non-categorical slots).

    Read from every turn, user and system (an offered venue name is a value the user later
    accepts): the slot spans, and the acts' values, which SGD writes as said.
    """

    pools: Mapping[SlotKey, tuple[str, ...]]

    @classmethod
    def from_split(cls, split: DialogueSplit, *, categorical: bool = False) -> SaidValues:
        """``categorical``: categorical slots too, with their possible values (a value is
        only swapped where the prompt says it verbatim: "thai" -> "italian", never
        "free wifi")."""
        free_text = {  # not the acts' "intent" pseudo-slot, not categorical slots
            (service.name, slot.name)
            for service in split.schema
            for slot in service.slots
            if not slot.is_categorical
        }
        found: dict[SlotKey, dict[str, str]] = {}
        if categorical:
            for service in split.schema:
                for slot in service.slots:
                    choices = [v for v in slot.possible_values
                               if swappable(v) and v.lower() not in _BOOLEANS]
                    if slot.is_categorical and len(choices) > 1:
                        found[(service.name, slot.name)] = {v.lower(): v for v in choices}

        def add(key: SlotKey, text: str) -> None:
            text = text.strip()
            if key in free_text and swappable(text):
                found.setdefault(key, {}).setdefault(text.lower(), text)

        for dialogue in split.dialogues:
            for turn in dialogue.turns:
                for frame in turn.frames:
                    for span in frame.slots:
                        if span.start is not None and span.exclusive_end is not None:
                            add((frame.service, span.slot),
                                turn.utterance[span.start : span.exclusive_end])
                    for action in frame.actions:
                        if action.slot:
                            for value in action.values:
                                add((frame.service, action.slot), value)
        # sorted: the choice a seeded rng makes must not depend on dialogue order
        return cls({key: tuple(sorted(v.values(), key=str.lower)) for key, v in found.items()})

    def choices(self, key: SlotKey) -> tuple[str, ...]:
        return self.pools.get(key, ())


def _pick(pool: Sequence[str], old: str, taken: set[str], source: str,
          rng: random.Random, tries: int = 16) -> str | None:
    """A value of ``pool`` uniformly among those that are not ``old``, not taken and not
    said in ``source`` (None if there is none). Rejection sampling first: a real SGD slot
    pools thousands of names, and checking each against the prompt per example would cost
    more than building the examples."""

    def fits(value: str) -> bool:
        key = value.lower()
        return key != old.lower() and key not in taken and not _said_in(value, source)

    for _ in range(tries if pool else 0):
        value = pool[rng.randrange(len(pool))]
        if fits(value):
            return value
    options = [v for v in pool if fits(v)]
    return rng.choice(options) if options else None


def plan_swaps(
    source: str,
    values: Sequence[tuple[SlotKey, str]],
    said: SaidValues,
    rng: random.Random,
    *,
    lowercase: bool = False,
) -> dict[str, str]:
    """Lowercased old value -> its replacement, for each of ``values`` that ``source``
    says and that has a replacement (empty when none has).

    A replacement is never a value the source already says (that would make two things
    the same), and two values never get the same replacement.
    """
    replacements: dict[str, str] = {}
    taken: set[str] = set()
    for key, value in values:
        old = value.strip()
        if not swappable(old) or old.lower() in replacements or not _said_in(old, source):
            continue
        new = _pick(said.choices(key), old, taken, source, rng)
        if new is None:
            continue
        replacements[old.lower()] = new.lower() if lowercase else new
        taken.add(new.lower())
    return replacements


def swapper(replacements: Mapping[str, str]) -> Callable[[str], str]:
    """A function that applies ``replacements`` (from :func:`plan_swaps`) to a text, at
    word boundaries, longest value first."""
    pattern = boundary_pattern(list(replacements))

    def swap(text: str) -> str:
        return pattern.sub(lambda m: replacements[m.group(1).lower()], text)

    return swap


def swap_values(
    source: str,
    target: str,
    values: Sequence[tuple[SlotKey, str]],
    said: SaidValues,
    rng: random.Random,
    *,
    lowercase: bool = False,
) -> tuple[str, str] | None:
    """``(source, target)`` with each of ``values`` replaced everywhere by another value of
    its slot (:func:`plan_swaps`), or None when none of them could be swapped."""
    replacements = plan_swaps(source, values, said, rng, lowercase=lowercase)
    if not replacements:
        return None
    swap = swapper(replacements)
    return swap(source), swap(target)
