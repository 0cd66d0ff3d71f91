"""Function calls <-> dialogue state.

* :func:`parse_call` reads a generated ``<function_call>{…}</function_call>`` (JSON only —
  model output is never evaluated as code);
* :func:`validate_arguments` keeps known arguments with valid values and counts what it
  drops (unknown arguments, values outside an enum, unparsable calls) in
  :class:`CallCounters`;
* :class:`DialogueState` holds the cumulative state per service. A call is cumulative, so it
  REPLACES its service's slot values: slots can change and be removed (the official code's
  goal never shrank), ``dontcare`` is kept as a value (the official code dropped it). A slot
  whose new value was invalid keeps its previous value (the model did say something about
  it; we just could not read it).
* :func:`gold_arguments` turns a reference state (every slot -> all acceptable surface forms)
  into the one value per slot a call carries.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tod_lab.data.types import DONTCARE, NONE_INTENT, Dialogue, Frame, State, Turn
from tod_lab.errors import ConfigError
from tod_lab.spectod.functions import INTENT_ARGUMENT, FunctionCatalog, FunctionSpec
from tod_lab.spectod.prompts import CALL_CLOSE, CALL_OPEN

EMPTY_VALUES = {"", "none", "null", "not mentioned"}


@dataclass
class CallCounters:
    calls: int = 0
    parse_failures: int = 0
    unknown_functions: int = 0
    unknown_arguments: int = 0
    invalid_values: int = 0
    dropped: Counter = field(default_factory=Counter)  # "function.argument" -> times

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "parse_failures": self.parse_failures,
            "unknown_functions": self.unknown_functions,
            "unknown_arguments": self.unknown_arguments,
            "invalid_values": self.invalid_values,
            "dropped": dict(self.dropped.most_common(50)),
        }


def _decode_object(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    body = text[start:]
    decoder = json.JSONDecoder()
    # a generation cut by max_new_tokens or a stop string may lack its closing braces
    for suffix in ("", "}", "}}", '"}}', '"}'):
        try:
            obj, _ = decoder.raw_decode(body + suffix)
        except json.JSONDecodeError:
            continue
        return obj if isinstance(obj, dict) else None
    return None


def parse_call(text: str) -> dict[str, Any] | None:
    """``<function_call>{"function": f, "arguments": {…}}</function_call>`` -> the object."""
    body = text
    if CALL_OPEN in body:
        body = body.split(CALL_OPEN, 1)[1]
    if CALL_CLOSE in body:
        body = body.split(CALL_CLOSE, 1)[0]
    obj = _decode_object(body)
    if obj is None or not isinstance(obj.get("function"), str):
        return None
    if not isinstance(obj.get("arguments", {}), dict):
        return None
    obj.setdefault("arguments", {})
    return obj


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _boolean_alias(value: str, spec_enum: tuple[str, ...]) -> str | None:
    # a JSON true/false for a yes/no slot
    lowered = {v.lower(): v for v in spec_enum}
    if value == "True" and "yes" in lowered:
        return lowered["yes"]
    if value == "False" and "no" in lowered:
        return lowered["no"]
    return None


@dataclass
class ValidatedCall:
    function: FunctionSpec
    slots: dict[str, str]  # schema slot -> value (valid ones)
    invalid_slots: set[str]  # slots the call named with a value we could not accept
    intent: str | None
    # slots the call named with an empty value ("none"): a delta call removes them (a
    # cumulative call removes a slot by leaving it out)
    cleared: set[str] = field(default_factory=set)


def validate_arguments(
    spec: FunctionSpec, arguments: Mapping[str, Any], counters: CallCounters
) -> ValidatedCall:
    slots: dict[str, str] = {}
    invalid: set[str] = set()
    cleared: set[str] = set()
    intent: str | None = None
    for name, raw in arguments.items():
        arg = spec.argument(str(name))
        if arg is None:
            counters.unknown_arguments += 1
            counters.dropped[f"{spec.name}.{name}"] += 1
            continue
        value = _as_text(raw)
        if value is None:
            counters.invalid_values += 1
            counters.dropped[f"{spec.name}.{name}:{type(raw).__name__}"] += 1
            invalid.add(arg.slot)
            continue
        canonical = arg.canonical_value(value)
        empty = value.lower() in EMPTY_VALUES and (canonical is None or not arg.enum)
        if empty:
            # "no value" (an enum may list "None" as a real value, e.g. SGD subtitles)
            cleared.add(arg.slot)
            continue
        if canonical is None and arg.enum:
            canonical = _boolean_alias(value, arg.enum)
        if canonical is None:
            counters.invalid_values += 1
            counters.dropped[f"{spec.name}.{name}={value}"] += 1
            invalid.add(arg.slot)
            continue
        if arg.name == INTENT_ARGUMENT:
            intent = canonical
        else:
            slots[arg.slot] = canonical
    return ValidatedCall(spec, slots, invalid, intent, cleared)


def read_call(
    text: str, catalog: FunctionCatalog, counters: CallCounters, expected: str | None = None
) -> ValidatedCall | None:
    """Parse + validate one generated call; None when it cannot be used at all."""
    counters.calls += 1
    obj = parse_call(text)
    if obj is None:
        counters.parse_failures += 1
        return None
    name = obj["function"] if expected is None else expected
    spec = catalog.get(name)
    if spec is None:
        counters.unknown_functions += 1
        return None
    return validate_arguments(spec, obj["arguments"], counters)


@dataclass
class DialogueState:
    """Cumulative state of one dialogue: service -> {slot: value}, service -> intent."""

    slots: dict[str, dict[str, str]] = field(default_factory=dict)
    intents: dict[str, str] = field(default_factory=dict)

    def apply(self, call: ValidatedCall, style: str = "cumulative") -> bool:
        """Merge a call (``style``: see :func:`delta_arguments`); returns whether the
        service's state changed."""
        check_call_style(style)
        service = call.function.service
        before = (dict(self.slots.get(service, {})), self.intents.get(service))
        previous = self.slots.get(service, {})
        if style == "delta":
            merged = {slot: v for slot, v in previous.items() if slot not in call.cleared}
            merged.update(call.slots)  # an unreadable value (invalid_slots) changes nothing
        else:
            merged = dict(call.slots)
            for slot in call.invalid_slots:  # unreadable value: keep what we had
                if slot in previous and slot not in merged:
                    merged[slot] = previous[slot]
        self.slots[service] = merged
        if call.intent is not None:
            self.intents[service] = call.intent
        elif style == "delta":
            if INTENT_ARGUMENT in call.cleared:
                self.intents.pop(service, None)
        elif call.function.intents and INTENT_ARGUMENT not in call.invalid_slots:
            self.intents.pop(service, None)  # cumulative: no intent argument = no intent
        return before != (merged, self.intents.get(service))

    def of(self, service: str) -> dict[str, str]:
        return dict(self.slots.get(service, {}))

    def arguments(self, spec: FunctionSpec, order: str = "spec") -> dict[str, str]:
        """The service's state as call arguments (see :func:`to_arguments` for ``order``)."""
        return to_arguments(spec, self.slots.get(spec.service, {}), self.intents.get(spec.service),
                            order)

    def db_constraints(self, spec: FunctionSpec) -> dict[str, str]:
        out = dict(self.slots.get(spec.service, {}))
        if spec.intents and spec.service in self.intents:
            out[INTENT_ARGUMENT] = self.intents[spec.service]
        return out

    def sgd_state(self, service: str) -> State:
        return State(
            active_intent=self.intents.get(service, NONE_INTENT),
            requested_slots=(),
            slot_values={slot: (value,) for slot, value in self.slots.get(service, {}).items()},
        )

    def multiwoz_state(self, *, drop_dontcare: bool = False) -> dict[str, dict[str, str]]:
        """mwzeval's ``{domain: {slot: value}}`` with the original 2.2 slot names.

        ``drop_dontcare``: mwzeval's gold states leave ``dontcare`` out (it is no
        constraint), so the state written for it does too; the tracked state keeps it.
        """
        out: dict[str, dict[str, str]] = {}
        for service, values in self.slots.items():
            kept = {
                (slot.split("-", 1)[1] if slot.startswith(f"{service}-") else slot): value
                for slot, value in values.items()
                if not (drop_dontcare and value == DONTCARE)
            }
            if kept:
                out[service] = kept
        return out


def choose_value(previous: str | None, values: tuple[str, ...]) -> str:
    """One value for a slot whose reference lists several surface forms.

    Keep the previous value while it is still acceptable (a new mention of the same value is
    not a change of the call); otherwise the first listed (canonical for categorical slots).
    """
    if previous is not None and previous in values:
        return previous
    return values[0]


ARGUMENT_ORDERS = ("spec", "state")
CALL_STYLES = ("cumulative", "delta")
# the value a delta call gives a slot the turn removed (one of EMPTY_VALUES)
CLEARED_VALUE = "none"


def check_argument_order(order: str) -> None:
    if order not in ARGUMENT_ORDERS:
        raise ConfigError("system.argument_order", f"{order!r} is not one of {list(ARGUMENT_ORDERS)}")


def check_call_style(style: str) -> None:
    if style not in CALL_STYLES:
        raise ConfigError("system.call_style", f"{style!r} is not one of {list(CALL_STYLES)}")


def delta_arguments(
    slots: Mapping[str, str], intent: str | None,
    previous: Mapping[str, str], previous_intent: str | None,
) -> tuple[dict[str, str], str | None]:
    """What a turn changed in one service's state, as a delta call holds it.

    ``call_style=cumulative`` calls repeat the whole state every turn (the Spec-TOD paper);
    ``delta`` calls hold only the slots whose value is new or changed (in ``slots``' order),
    the removed ones with :data:`CLEARED_VALUE`, and the intent where it changed; the agent
    merges them into its state. A delta call is as short as what the turn said, so a small
    model neither copies the state forward each turn nor learns to stop after it.
    """
    changed = {slot: value for slot, value in slots.items() if previous.get(slot) != value}
    changed.update({slot: CLEARED_VALUE for slot in previous if slot not in slots})
    if intent == previous_intent:
        return changed, None
    return changed, (CLEARED_VALUE if intent is None else intent)


def gold_arguments(
    spec: FunctionSpec,
    state: State,
    previous: Mapping[str, str] | None = None,
    *,
    utterance: str = "",
    order: str = "spec",
) -> tuple[dict[str, str], str | None]:
    """Reference state -> (schema slot -> one value, intent or None).

    ``order="state"``: the slots the previous call held first, in its order (a changed
    value keeps its place), then the new ones in the order ``utterance`` mentions them
    (unmentioned ones -- "free wifi" for internet=yes -- after, in spec order). A call is
    then its previous call plus what this turn added, at the end.
    """
    previous = previous or {}
    slots = {
        slot: choose_value(previous.get(slot), values)
        for slot, values in state.slot_values.items()
        if values and spec.argument_for_slot(slot) is not None
    }
    if order == "state":
        slots = _previous_first(spec, slots, previous, utterance)
    intent = None
    if spec.intents and state.active_intent != NONE_INTENT:
        intent = state.active_intent
    return slots, intent


def _previous_first(spec: FunctionSpec, slots: Mapping[str, str], previous: Mapping[str, str],
                    utterance: str) -> dict[str, str]:
    kept = [slot for slot in previous if slot in slots]
    text = utterance.lower()
    rank = {a.slot: i for i, a in enumerate(spec.arguments)}

    def mention(slot: str) -> tuple[int, int]:
        at = text.find(slots[slot].lower()) if slots[slot] else -1
        return (at if at >= 0 else len(text) + 1, rank.get(slot, len(rank)))

    new = sorted((slot for slot in slots if slot not in previous), key=mention)
    return {slot: slots[slot] for slot in [*kept, *new]}


def to_arguments(spec: FunctionSpec, slots: Mapping[str, str], intent: str | None,
                 order: str = "spec") -> dict[str, str]:
    """Schema slots -> argument names (what a call shows): in the spec's order, or
    (``order="state"``) the intent first, then the slots in their own order."""
    check_argument_order(order)
    out: dict[str, str] = {}
    if order == "state":
        if intent is not None and spec.argument(INTENT_ARGUMENT) is not None:
            out[INTENT_ARGUMENT] = intent
        for slot, value in slots.items():
            argument = spec.argument_for_slot(slot)
            if argument is not None:
                out[argument.name] = value
        return out
    for arg in spec.arguments:
        if arg.name == INTENT_ARGUMENT:
            if intent is not None:
                out[arg.name] = intent
        elif arg.slot in slots:
            out[arg.name] = slots[arg.slot]
    return out


def sgd_prediction_dialogue(
    reference: Dialogue,
    user_states: Sequence[Mapping[str, State]],
    system_frames: Sequence[tuple[Frame, ...]] | None = None,
) -> Dialogue:
    """The reference dialogue with predicted states: what the official SGD evaluator reads.

    Every user turn gets a frame for every service of the dialogue (the evaluator needs one
    for each reference frame; extra frames are ignored), holding the predicted cumulative
    state of that service. System turns keep their utterance and get the predicted frames
    (e.g. actions) when given.
    """
    turns: list[Turn] = []
    user_index = system_index = 0
    for turn in reference.turns:
        if turn.is_user:
            states = user_states[user_index]
            user_index += 1
            frames = tuple(
                Frame(service=service, state=states.get(service, State()))
                for service in reference.services
            )
        else:
            frames = system_frames[system_index] if system_frames is not None else ()
            system_index += 1
        turns.append(Turn(turn.speaker, turn.utterance, frames, turn.turn_id))
    return Dialogue(reference.dialogue_id, reference.services, tuple(turns))


__all__ = [
    "DONTCARE",
    "CallCounters",
    "DialogueState",
    "ValidatedCall",
    "choose_value",
    "gold_arguments",
    "parse_call",
    "read_call",
    "sgd_prediction_dialogue",
    "to_arguments",
    "validate_arguments",
]
