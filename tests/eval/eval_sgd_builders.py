"""Hand-built SGD schema and dialogues shared by the evaluator tests."""

from __future__ import annotations

from tod_lab.data.types import SYSTEM, USER, Dialogue, DialogueSplit, Frame, Schema, State, Turn
from tod_lab.eval.sgd import evaluate_sgd

SCHEMA = Schema.from_json(
    [
        {
            "service_name": "Restaurants_1",
            "slots": [
                {"name": "city", "is_categorical": False},
                {"name": "cuisine", "is_categorical": True,
                 "possible_values": ["Italian", "Mexican"]},
                {"name": "price_range", "is_categorical": True,
                 "possible_values": ["cheap", "moderate"]},
                {"name": "restaurant_name", "is_categorical": False},
            ],
            "intents": [{"name": "FindRestaurants"}, {"name": "ReserveRestaurant"}],
        },
        {
            "service_name": "Hotels_2",
            "slots": [
                {"name": "where_to", "is_categorical": False},
                {"name": "number_of_adults", "is_categorical": False},
            ],
            "intents": [{"name": "SearchHouse"}],
        },
    ]
)
TRAIN_SERVICES = ["Restaurants_1", "Flights_1"]  # Hotels_2 is unseen


def frame(service="Restaurants_1", values=None, intent="FindRestaurants", requested=(), spans=()):
    return Frame(
        service=service,
        slots=tuple(spans),
        state=State(
            active_intent=intent,
            requested_slots=tuple(requested),
            slot_values={k: tuple(v) for k, v in (values or {}).items()},
        ),
    )


def dialogue(dialogue_id, user_frames, utterances=None, services=("Restaurants_1",)):
    """USER / SYSTEM turns; ``user_frames[i]`` are the frames of the i-th user turn."""
    turns = []
    for i, frames in enumerate(user_frames):
        text = utterances[i] if utterances else f"user says {i}"
        turns.append(Turn(speaker=USER, utterance=text, frames=tuple(frames)))
        turns.append(Turn(speaker=SYSTEM, utterance=f"system says {i}"))
    return Dialogue(dialogue_id=dialogue_id, services=tuple(services), turns=tuple(turns))


def split(*dialogues):
    return DialogueSplit(corpus="sgd", split="dev", schema=SCHEMA, dialogues=tuple(dialogues))


def frame_metrics(ref_frame, hyp_frame, **options):
    """The metrics of a single frame pair (through the whole evaluator)."""
    services = (ref_frame.service,)
    ref = dialogue("d1", [[ref_frame]], services=services)
    hyp = dialogue("d1", [[hyp_frame]], services=services)
    report = evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES, **options)
    assert len(report.frames) == 1
    return report.frames[0].metrics
