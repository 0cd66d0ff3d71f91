"""Delexicalised responses and system actions from the corpus annotations.

* MultiWOZ 2.2: values come from ``dialog_acts.json`` (``span_info``: act, slot, value,
  start, exclusive end — character offsets) and from the span annotations of the system
  frames; the action is the turn's ``dialog_act`` (``Restaurant-Inform`` ->
  ``{"[restaurant]": {"[inform]": [slots]}}``; slot ``none`` adds the act with no slot).
* SGD: values come from the system frames' slot spans and, for values the spans do not
  cover (categorical values, counts), from the action values found verbatim in the
  utterance; the action is the frames' actions keyed by the service's function name.

Placeholders: MultiWOZ uses mwzeval's own style ``[slot]`` with the 2.2 span slot names
(``[name]``, ``[ref]``, ``[trainid]``): the training targets are then exactly the references
mwzeval computes BLEU against (its normaliser maps UBAR's ``[value_x]`` names only in part,
e.g. not ``[value_ref]``). SGD uses ``[value_<slot>]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tod_lab.data.types import Turn

Action = dict[str, dict[str, list[str]]]
Span = tuple[int, int, str]  # start, exclusive end, slot


def placeholder(slot: str, style: str = "sgd") -> str:
    slot = slot.lower().replace(" ", "")
    return f"[{slot}]" if style == "multiwoz" else f"[value_{slot}]"


def bare(slot: str) -> str:
    return slot.split("-", 1)[1] if "-" in slot else slot


def apply_spans(utterance: str, spans: Iterable[Span], style: str = "sgd") -> str:
    """Replace non-overlapping spans (earliest first, longer wins on a tie) by placeholders."""
    chosen: list[Span] = []
    for start, end, slot in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if not (0 <= start < end <= len(utterance)):
            continue
        if chosen and start < chosen[-1][1]:
            continue
        chosen.append((start, end, slot))
    out, cursor = [], 0
    for start, end, slot in chosen:
        out.append(utterance[cursor:start])
        out.append(placeholder(slot, style))
        cursor = end
    out.append(utterance[cursor:])
    return "".join(out)


def value_spans(utterance: str, value: str, slot: str) -> list[Span]:
    """Verbatim, case-insensitive, whole-word occurrences of ``value``."""
    value = value.strip()
    if len(value) < 1:
        return []
    pattern = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)
    return [(m.start(), m.end(), slot) for m in pattern.finditer(utterance)]


# --------------------------------------------------------------------------- MultiWOZ


def turn_acts(dialog_acts: Mapping[str, Any] | None, dialogue_id: str, turn: Turn,
              index: int) -> Mapping[str, Any]:
    """The dialog_acts.json entry of one turn ({} when absent)."""
    if not dialog_acts:
        return {}
    by_turn = dialog_acts.get(dialogue_id)
    if by_turn is None and not dialogue_id.endswith(".json"):
        by_turn = dialog_acts.get(f"{dialogue_id}.json")
    if by_turn is None:
        by_turn = dialog_acts.get(dialogue_id.removesuffix(".json"))
    if not by_turn:
        return {}
    key = turn.turn_id if turn.turn_id is not None else str(index)
    return by_turn.get(key, {}) or {}


def multiwoz_action(acts: Mapping[str, Any]) -> Action:
    dialog_act = acts.get("dialog_act", acts.get("dialogue_acts", {})) or {}
    out: Action = {}
    for name, pairs in dialog_act.items():
        domain, _, act = name.partition("-")
        slots = out.setdefault(f"[{domain.lower()}]", {}).setdefault(f"[{act.lower()}]", [])
        for pair in pairs or ():
            slot = str(pair[0]).lower() if pair else "none"
            if slot != "none" and slot not in slots:
                slots.append(slot)
    return out


def multiwoz_delex(turn: Turn, acts: Mapping[str, Any]) -> str:
    """mwzeval's delexicalisation, i.e. its BLEU references: the ``span_info`` of the turn's
    acts (``dontcare`` values left as they are). A turn without acts stays as it is."""
    spans: list[Span] = []
    for item in acts.get("span_info", ()) or ():
        if len(item) >= 5 and str(item[1]).lower() != "none" and item[2] != "dontcare":
            spans.append((int(item[3]), int(item[4]), str(item[1]).lower()))
    return apply_spans(turn.utterance, spans, "multiwoz")


# --------------------------------------------------------------------------- SGD


def sgd_action(turn: Turn, function_names: Mapping[str, str]) -> Action:
    out: Action = {}
    for frame in turn.frames:
        domain = f"[{function_names.get(frame.service, frame.service.lower())}]"
        for action in frame.actions:
            slots = out.setdefault(domain, {}).setdefault(f"[{action.act.lower()}]", [])
            if action.slot and action.slot != "intent" and action.slot not in slots:
                slots.append(action.slot)
    return out


def sgd_delex(turn: Turn) -> str:
    spans: list[Span] = []
    for frame in turn.frames:
        for span in frame.slots:
            if span.is_span:
                spans.append((span.start, span.exclusive_end, span.slot))
    for frame in turn.frames:
        for action in frame.actions:
            if not action.slot or action.slot == "intent":
                continue
            for value in action.values:
                if value in ("True", "False"):  # booleans are not said as such
                    continue
                spans.extend(value_spans(turn.utterance, value, action.slot))
    return apply_spans(turn.utterance, spans)


def action_pairs(action: Mapping[str, Mapping[str, Iterable[str]]]) -> set[tuple[str, str]]:
    """(act, slot) pairs of an action dict; an act with no slot gives (act, "")."""
    pairs: set[tuple[str, str]] = set()
    for acts in action.values():
        for act, slots in acts.items():
            act_name = act.strip("[]")
            slots = list(slots)
            if not slots:
                pairs.add((act_name, ""))
            for slot in slots:
                pairs.add((act_name, slot))
    return pairs
