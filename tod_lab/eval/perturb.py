"""Seeded perturbations of real slot values and dialogue states.

Two uses: the fuzzy-parity test draws (reference value, perturbed value) pairs from the
real SGD data, and the ``eval_sgd`` benchmark builds a realistic full-split prediction set
(most states right, some values dropped / misspelt / reordered / invented) without a model.
Every function takes an explicit seed or :class:`random.Random`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from tod_lab.data.numbers import CARDINAL_WORDS
from tod_lab.data.types import USER, Dialogue, Schema, State

_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?:\s*([ap]m))?$", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_ACCENTED = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "c": "ç", "n": "ñ", "s": "ß"}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _typo(value: str, rng: random.Random) -> str:
    if not value:
        return "x"
    i = rng.randrange(len(value))
    kind = rng.choice(("delete", "insert", "substitute", "transpose"))
    if kind == "delete":
        return value[:i] + value[i + 1 :]
    if kind == "insert":
        return value[:i] + rng.choice(_LETTERS) + value[i:]
    if kind == "substitute":
        return value[:i] + rng.choice(_LETTERS) + value[i + 1 :]
    if len(value) < 2:
        return value + value
    i = min(i, len(value) - 2)
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]


def _words(value: str) -> list[str]:
    return value.split() or [value]


def _shuffle_words(value: str, rng: random.Random) -> str:
    words = _words(value)
    rng.shuffle(words)
    return " ".join(words)


def _truncate_words(value: str, rng: random.Random) -> str:
    words = _words(value)
    return " ".join(words[: rng.randint(1, max(1, len(words) - 1))])


def _truncate_chars(value: str, rng: random.Random) -> str:
    return value[: rng.randint(0, max(0, len(value) - 1))]


def _number(value: str, rng: random.Random) -> str:
    if _DIGIT.search(value):
        if rng.random() < 0.5:
            return _DIGIT.sub(lambda m: str((int(m.group()) + rng.randint(1, 9)) % 10), value, 1)
        return re.sub(r"\b(\d{1,2})\b", lambda m: CARDINAL_WORDS[int(m.group())]
                      if int(m.group()) < len(CARDINAL_WORDS) else m.group(), value)
    for index, word in enumerate(CARDINAL_WORDS):
        if re.search(rf"\b{word}\b", value, re.IGNORECASE):
            return re.sub(rf"\b{word}\b", str(index), value, flags=re.IGNORECASE)
    return f"{value} {rng.randint(1, 99)}"


def _time(value: str, rng: random.Random) -> str:
    match = _TIME.match(value.strip())
    if not match:
        return f"{rng.randint(1, 12)}:{rng.choice(('00', '15', '30', '45'))} {rng.choice(('am', 'pm'))}"
    hour, minute, half = int(match.group(1)), match.group(2), match.group(3)
    choice = rng.randrange(4)
    if choice == 0:  # 24h <-> 12h
        if half:
            hour = hour % 12 + (12 if half.lower() == "pm" else 0)
            return f"{hour}:{minute}"
        return f"{hour % 12 or 12}:{minute} {'pm' if hour >= 12 else 'am'}"
    if choice == 1:
        return f"{hour} {'pm' if hour >= 12 or (half and half.lower() == 'pm') else 'am'}"
    if choice == 2:
        return f"half past {hour % 12 or 12}" if minute == "30" else f"{hour % 12 or 12} o'clock"
    return f"{(hour + 1) % 24:02d}:{minute}"


def _accent(value: str, rng: random.Random) -> str:
    positions = [i for i, c in enumerate(value) if c.lower() in _ACCENTED]
    if not positions:
        return value + " café"
    i = rng.choice(positions)
    return value[:i] + _ACCENTED[value[i].lower()] + value[i + 1 :]


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "identity": lambda v, r: v,
    "upper": lambda v, r: v.upper(),
    "lower": lambda v, r: v.lower(),
    "title": lambda v, r: v.title(),
    "swapcase": lambda v, r: v.swapcase(),
    "shuffle_words": _shuffle_words,
    "reverse_words": lambda v, r: " ".join(reversed(_words(v))),
    "typo": _typo,
    "two_typos": lambda v, r: _typo(_typo(v, r), r),
    "truncate_words": _truncate_words,
    "truncate_chars": _truncate_chars,
    "number": _number,
    "time": _time,
    "punctuation": lambda v, r: r.choice((f"{v}.", f"{v}!", f"'{v}'", v.replace(" ", ", "),
                                          v.replace(" ", "-"), f"{v}?!", "?!")),
    "whitespace": lambda v, r: r.choice((f"  {v} ", v.replace(" ", "  "), f"\t{v}\n")),
    "accent": _accent,
    "extra_word": lambda v, r: r.choice((f"the {v}", f"{v} please", f"at {v}", f"{v} {v}")),
    "empty": lambda v, r: "",
    "long": lambda v, r: " ".join([v] * r.randint(20, 40)),
}


def perturb_value(value: str, rng: random.Random, kind: str | None = None) -> tuple[str, str]:
    """``(kind, perturbed value)``; a random kind unless one is given."""
    kind = kind or rng.choice(tuple(PERTURBATIONS))
    return kind, PERTURBATIONS[kind](value, rng)


def slot_values(dialogues: Iterable[Dialogue], schema: Schema, *, categorical: bool = False) -> list[str]:
    """Distinct state values of non-categorical (or categorical) slots, in first-seen order."""
    kinds = {
        (s.name, slot.name): slot.is_categorical for s in schema.services for slot in s.slots
    }
    seen: dict[str, None] = {}
    for dialogue in dialogues:
        for turn in dialogue.turns:
            for frame in turn.frames:
                if frame.state is None:
                    continue
                for slot, values in frame.state.slot_values.items():
                    if kinds.get((frame.service, slot)) == categorical:
                        seen.update(dict.fromkeys(values))
    return list(seen)


def value_pairs(values: Sequence[str], count: int, seed: int) -> list[tuple[str, str, str]]:
    """``count`` (kind, reference, hypothesis) pairs: every kind in turn, plus real pairs.

    One pair in eight compares two different real values (what a wrong prediction looks
    like); the others compare a value with a perturbation of itself.
    """
    rng = random.Random(seed)
    kinds = tuple(PERTURBATIONS)
    pairs = []
    for i in range(count):
        ref = values[i % len(values)]
        if i % 8 == 7:
            pairs.append(("other_value", ref, rng.choice(values)))
        else:
            kind, hyp = perturb_value(ref, rng, kinds[i % len(kinds)])
            pairs.append((kind, ref, hyp))
    return pairs


# ------------------------------------------------------------------ whole predictions


def _perturb_state(state: State, slot_names: Sequence[str], pool: Sequence[str],
                   rng: random.Random, rate: float) -> State:
    values: dict[str, tuple[str, ...]] = {}
    for slot, vals in state.slot_values.items():
        roll = rng.random()
        if roll < rate * 0.3:
            continue  # dropped
        if roll < rate:
            values[slot] = (perturb_value(vals[0], rng)[1],)
        else:
            values[slot] = (vals[rng.randrange(len(vals))],)  # any acceptable surface form
    if slot_names and rng.random() < rate * 0.3:
        values.setdefault(rng.choice(slot_names), (rng.choice(pool),))  # invented slot
    intent = state.active_intent if rng.random() >= rate * 0.2 else "NONE"
    requested = state.requested_slots if rng.random() >= rate * 0.2 else ()
    return State(active_intent=intent, requested_slots=requested, slot_values=values)


def perturbed_predictions(
    dialogues: Iterable[Dialogue], schema: Schema, *, seed: int, rate: float = 0.1
) -> list[Dialogue]:
    """The reference dialogues with noisy user states: a stand-in for a model's output.

    ``rate`` is the chance that a slot value is perturbed or dropped; a frame may also gain
    an invented slot, lose its requested slots or get the ``NONE`` intent.
    """
    rng = random.Random(seed)
    dialogues = list(dialogues)
    pool = slot_values(dialogues, schema) or ["value"]
    slots_of = {s.name: s.slot_names for s in schema.services}
    out = []
    for dialogue in dialogues:
        turns = []
        for turn in dialogue.turns:
            if turn.speaker == USER:
                frames = tuple(
                    replace(f, state=_perturb_state(f.state, slots_of.get(f.service, ()), pool,
                                                    rng, rate))
                    if f.state is not None else f
                    for f in turn.frames
                )
                turn = replace(turn, frames=frames)
            turns.append(turn)
        out.append(replace(dialogue, turns=tuple(turns)))
    return out


__all__ = ["PERTURBATIONS", "perturb_value", "perturbed_predictions", "slot_values", "value_pairs"]
