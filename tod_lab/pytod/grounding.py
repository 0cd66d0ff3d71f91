"""Who said the values a program writes? A check for execution-guided decoding.

A dialogue state tracker copies values from the conversation: SGD annotates every
non-categorical value as a span of some turn, and our toy corpus says each value it tracks.
A program that writes ``x24.check_in_date = " the 9th "`` when the user just said "make it
two", or ``find_trains(from_=" san diego ", to=" san diego ")`` for "from Atlanta to San
Diego", has read the wrong words even though each value is in the prompt somewhere. Both are
legal programs, so the runtime accepts them; this module names them so that the agent can
prefer another beam (``system.agent.grounded_values``).

A literal value is *said* when it occurs, as whole words (digits and number words alike), in

- the user's utterance of this turn, or
- any system utterance so far (the user accepts an offered name or time: "that works"), but
  not the last one for an assignment to an existing task (``select`` / ``confirm`` write
  what the system just offered or read back; a parser that assigns it itself has read the
  system's words as the user's: ``x10.date = " march 6th "`` for "make it March 2nd"), or
- an earlier user utterance, for the argument of a *new* task only (a city carried over to
  the hotel search the user starts now; an existing task that gets an earlier value again is
  how a correction is read into the wrong slot).

and a value said once fills one slot (not ``select(movie_name=" wild river ")`` and a ticket
purchase with ``show_date=" wild river "`` after "How about Wild River?"). Categorical
values other than numbers are not checked: users paraphrase them ("cheap" ->
``inexpensive``).
Gold programs pass: 0 of 9,519 toy training turns and 0 of 2,743 real SGD dev turns fail
(toy: 2,467 assignment values, 2,244 said by the user that turn, none only by the system in
its last turn; SGD dev: 1,232, 1,194, none).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from tod_lab.data.augment import boundary_pattern
from tod_lab.data.numbers import NUMBER_WORDS
from tod_lab.pytod.interpreter import DialogueSession, WrittenLiteral
from tod_lab.pytod.simulator import DONTCARE_WORDS


def unsaid_values(session: DialogueSession, literals: Sequence[WrittenLiteral]) -> list[str]:
    """One message per literal of this turn's program that nobody said (see the module)."""
    user_now = session.dialogue.turns[session.turn_index].utterance
    system = [line.text for line in session.lines if line.kind == "agent"]
    earlier_user = [
        line.text
        for line in session.lines
        if line.kind == "user" and line.turn < session.turn_index
    ]
    problems: list[str] = []
    uses: Counter[str] = Counter()
    for literal in literals:
        text = " ".join(literal.text.split())
        if not _checked(literal, text):
            continue
        pattern = _said_pattern(text.lower())
        uses[text.lower()] += 1
        if pattern.search(user_now):
            continue
        if literal.via == "assignment" and system and pattern.search(system[-1]):
            problems.append(f"{literal.slot.ident} = {text!r}: the system's words just now")
            continue
        if any(pattern.search(t) for t in system):
            continue
        if literal.via == "call" and any(pattern.search(t) for t in earlier_user):
            continue
        problems.append(f"{literal.slot.ident} = {text!r}: said by no one")
    everything = [user_now, *system, *earlier_user]
    for text, count in uses.items():
        if count < 2:
            continue
        # the user's words this turn when they hold it ("from Atlanta to Atlanta"), else all
        found = [len(_said_pattern(text).findall(t)) for t in everything]
        mentions = found[0] or sum(found)
        if count > mentions:
            problems.append(f"{text!r} fills {count} slots but was said {mentions} time(s)")
    return problems


def _checked(literal: WrittenLiteral, text: str) -> bool:
    key = text.lower()
    if not key or key in DONTCARE_WORDS:
        return False
    if literal.slot.is_categorical and literal.slot.possible_values:
        return _is_number(key)
    return True


def _is_number(key: str) -> bool:
    return key.isdigit() or key in NUMBER_WORDS


@lru_cache(maxsize=4096)
def _said_pattern(key: str) -> re.Pattern[str]:
    """Whole-word forms of a value: itself and, for a number, its digits and words."""
    forms = {key}
    if key in NUMBER_WORDS:
        forms.add(str(NUMBER_WORDS[key]))
    if key.isdigit():
        # not "a" / "an": any sentence has them; "a single" / "one" still say 1
        forms |= {w for w, n in NUMBER_WORDS.items() if str(n) == key and w not in ("a", "an")}
    return boundary_pattern(sorted(forms))
