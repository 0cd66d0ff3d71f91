"""Seeded, nested, service-stratified data fractions (1% ⊂ 10% ⊂ 100%).

Design: every training dialogue gets a position in ONE global order; a fraction ``f`` takes
the first ``round(f * N)`` dialogues of that order. Nesting (1% ⊂ 10%) follows because
every fraction is a prefix of the same order. The order is built from ``(seed, dialogue_id)``
only — never from file order or Python's (salted) ``hash`` — so the same ids come out on
any machine and after shuffling the file list:

1. Coverage head: for each training service (sorted by name) the dialogue using it with the
   smallest seeded key, unless an earlier head dialogue already covers it. Any fraction that
   keeps at least this many dialogues (26 for SGD train, i.e. 0.2%) contains every service.
2. Stratified tail: dialogues are grouped by their service set; inside a group of size n the
   r-th dialogue (by seeded key) gets position ``(r + u) / n`` with u its own key in [0, 1).
   Sorting everything by position interleaves the groups proportionally, so every prefix is
   a proportional (stratified) sample of service sets.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

from tod_lab.data.types import Dialogue
from tod_lab.errors import ConfigError

NAMED_FRACTIONS = {"1pct": 0.01, "10pct": 0.1, "100pct": 1.0}


def seeded_key(seed: int, dialogue_id: str) -> float:
    """A uniform number in [0, 1) determined by (seed, dialogue_id) alone."""
    digest = hashlib.blake2b(f"{seed}\x1f{dialogue_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def parse_fraction(value: float | str) -> float:
    """``0.1``, ``"0.1"``, ``"10pct"``, ``"10%"`` -> 0.1, validated to lie in (0, 1]."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in NAMED_FRACTIONS:
            number = NAMED_FRACTIONS[text]
        else:
            try:
                number = float(text.rstrip("%").removesuffix("pct"))
                if text.endswith(("%", "pct")):
                    number /= 100
            except ValueError as exc:
                raise ConfigError(
                    "data_fraction.fraction", f"cannot read {value!r} as a fraction"
                ) from exc
    else:
        number = float(value)
    if not 0.0 < number <= 1.0:
        raise ConfigError("data_fraction.fraction", f"{value!r} must be in (0, 1]")
    return number


def selection_order(dialogues: Iterable[Dialogue], seed: int) -> list[str]:
    """All dialogue ids in the global order whose prefixes are the fractions."""
    services_of: dict[str, tuple[str, ...]] = {}
    for d in dialogues:
        services_of[d.dialogue_id] = tuple(sorted(d.services))
    key = {i: seeded_key(seed, i) for i in services_of}

    head: list[str] = []
    covered: set[str] = set()
    all_services = sorted({s for ss in services_of.values() for s in ss})
    by_service: dict[str, list[str]] = defaultdict(list)
    for i, ss in services_of.items():
        for s in ss:
            by_service[s].append(i)
    for service in all_services:
        if service in covered:
            continue
        pick = min(by_service[service], key=lambda i: (key[i], i))
        head.append(pick)
        covered.update(services_of[pick])

    in_head = set(head)
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for i, ss in services_of.items():
        if i not in in_head:
            groups[ss].append(i)
    positioned: list[tuple[float, str]] = []
    for members in groups.values():
        members.sort(key=lambda i: (key[i], i))
        n = len(members)
        positioned.extend(((r + key[i]) / n, i) for r, i in enumerate(members))
    positioned.sort()
    return head + [i for _, i in positioned]


def select_ids(dialogues: Sequence[Dialogue], fraction: float | str, seed: int) -> list[str]:
    """The ids of a seeded ``fraction`` of ``dialogues`` (sorted), nested across fractions."""
    fraction = parse_fraction(fraction)
    order = selection_order(dialogues, seed)
    if fraction >= 1.0:
        return sorted(order)
    count = max(1, round(fraction * len(order)))
    return sorted(order[:count])
