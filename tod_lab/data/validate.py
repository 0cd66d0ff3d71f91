"""Checks that a dialogue only mentions what its schema defines.

Rules (SGD and MultiWOZ 2.2 alike): every service, intent and slot a dialogue mentions is in
the schema, slot spans lie inside their utterance, and speakers alternate starting with the
user. Each problem is reported as a :class:`~tod_lab.errors.DataError` naming the file,
dialogue id and turn.
"""

from __future__ import annotations

from tod_lab.data.types import SPEAKERS, USER, Dialogue, Frame, Schema, Service
from tod_lab.errors import DataError

# Action "slots" that are not schema slots but are part of the SGD action vocabulary.
NON_SCHEMA_ACTION_SLOTS = frozenset({"", "intent", "count"})
INTENT_VALUED_ACTS = frozenset({"INFORM_INTENT", "OFFER_INTENT"})


def validate_dialogue(
    dialogue: Dialogue,
    schema: Schema,
    *,
    file: str | None = None,
    frames_must_be_listed: bool = True,
) -> None:
    """Raise :class:`DataError` on the first problem found in ``dialogue``.

    ``frames_must_be_listed``: SGD frames only use services from ``dialogue.services``;
    MultiWOZ 2.2 user turns carry a frame for every domain, so it turns this off.
    """

    def fail(problem: str, turn: int | None = None) -> DataError:
        return DataError(problem, file=file, dialogue_id=dialogue.dialogue_id, turn=turn)

    services = {s.name: s for s in schema.services}
    for name in dialogue.services:
        if name not in services:
            raise fail(f"service {name!r} is not in the schema")
    if not dialogue.turns:
        raise fail("dialogue has no turns")
    for index, turn in enumerate(dialogue.turns):
        if turn.speaker not in SPEAKERS:
            raise fail(f"unknown speaker {turn.speaker!r}", index)
        expected = USER if index % 2 == 0 else SPEAKERS[1]
        if turn.speaker != expected:
            raise fail(f"speakers must alternate starting with USER; got {turn.speaker}", index)
        for frame in turn.frames:
            service = services.get(frame.service)
            if service is None:
                raise fail(f"frame service {frame.service!r} is not in the schema", index)
            if frames_must_be_listed and frame.service not in dialogue.services:
                raise fail(
                    f"frame service {frame.service!r} is not listed in the dialogue's services",
                    index,
                )
            problem = _frame_problem(frame, service, turn.utterance)
            if problem:
                raise fail(problem, index)


def _frame_problem(frame: Frame, service: Service, utterance: str) -> str | None:
    slots = set(service.slot_names)
    intents = set(service.intent_names)
    where = f"service {service.name}"
    for action in frame.actions:
        if action.slot not in slots and action.slot not in NON_SCHEMA_ACTION_SLOTS:
            return f"{where}: action {action.act} names unknown slot {action.slot!r}"
        if action.act in INTENT_VALUED_ACTS:
            for value in action.values:
                if value not in intents:
                    return f"{where}: action {action.act} names unknown intent {value!r}"
    for span in frame.slots:
        if span.slot not in slots:
            return f"{where}: slot span names unknown slot {span.slot!r}"
        if span.is_span:
            start, end = span.start, span.exclusive_end
            if not (0 <= start <= end <= len(utterance)):  # type: ignore[operator]
                return (
                    f"{where}: span of slot {span.slot!r} [{start}, {end}) lies outside the "
                    f"utterance (length {len(utterance)})"
                )
    if frame.state is not None:
        state = frame.state
        if state.active_intent != "NONE" and state.active_intent not in intents:
            return f"{where}: unknown active intent {state.active_intent!r}"
        for name in state.slot_values:
            if name not in slots:
                return f"{where}: state names unknown slot {name!r}"
        for name in state.requested_slots:
            if name not in slots:
                return f"{where}: requested slot {name!r} is not in the schema"
    if frame.service_call is not None:
        call = frame.service_call
        if call.method not in intents:
            return f"{where}: service call names unknown intent {call.method!r}"
        for name in call.parameters:
            if name not in slots:
                return f"{where}: service call parameter {name!r} is not in the schema"
    return None
