"""Small MultiWOZ 2.2 fixtures written in the documented format (README.upstream.md).

No MultiWOZ dialogues exist on these machines, so tests build a tiny corpus in this exact
layout: ``schema.json``, ``{split}/dialogues_001.json``, ``dialog_acts.json`` and ``db/``.
The schema is a trimmed copy of the MultiWOZ 2.2 one (restaurant, hotel, train, taxi) with
the ``domain-slot`` naming; user turns carry a frame for EVERY domain (the 2.2 quirk) and
system turns carry span-only frames or none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _slot(name: str, desc: str, values: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": desc,
        "possible_values": values or [],
        "is_categorical": bool(values),
    }


SCHEMA: list[dict[str, Any]] = [
    {
        "service_name": "restaurant",
        "slots": [
            _slot("restaurant-pricerange", "price budget", ["cheap", "moderate", "expensive"]),
            _slot("restaurant-area", "area", ["centre", "east", "north", "south", "west"]),
            _slot("restaurant-food", "the cuisine of the restaurant"),
            _slot("restaurant-name", "name of the restaurant"),
            _slot("restaurant-bookday", "day of the booking", DAYS),
            _slot("restaurant-bookpeople", "people", [str(i) for i in range(1, 9)]),
            _slot("restaurant-booktime", "time of the booking"),
            _slot("restaurant-phone", "phone number"),
            _slot("restaurant-address", "address"),
            _slot("restaurant-ref", "reference number"),
        ],
        "description": "make a reservation at a restaurant",
        "intents": [
            {
                "name": "find_restaurant",
                "description": "search for places to wine and dine",
                "is_transactional": False,
                "required_slots": [],
                "optional_slots": {
                    "restaurant-pricerange": "dontcare",
                    "restaurant-area": "dontcare",
                    "restaurant-food": "dontcare",
                    "restaurant-name": "dontcare",
                },
            },
            {
                "name": "book_restaurant",
                "description": "book a table at a restaurant",
                "is_transactional": True,
                "required_slots": [],
                "optional_slots": {
                    "restaurant-name": "dontcare",
                    "restaurant-bookday": "dontcare",
                    "restaurant-bookpeople": "dontcare",
                    "restaurant-booktime": "dontcare",
                },
            },
        ],
    },
    {
        "service_name": "hotel",
        "slots": [
            _slot("hotel-pricerange", "price budget", ["cheap", "moderate", "expensive"]),
            _slot("hotel-area", "area", ["centre", "east", "north", "south", "west"]),
            _slot("hotel-parking", "parking", ["free", "no", "yes"]),
            _slot("hotel-name", "name of the hotel"),
            _slot("hotel-stars", "star rating", ["0", "1", "2", "3", "4", "5"]),
            _slot("hotel-address", "address of the hotel"),
        ],
        "description": "hotel reservations and vacation stays",
        "intents": [
            {
                "name": "find_hotel",
                "description": "search for a hotel",
                "is_transactional": False,
                "required_slots": [],
                "optional_slots": {"hotel-area": "dontcare", "hotel-stars": "dontcare"},
            }
        ],
    },
    {
        "service_name": "taxi",
        "slots": [
            _slot("taxi-departure", "departure location"),
            _slot("taxi-destination", "destination"),
            _slot("taxi-leaveat", "leaving time"),
        ],
        "description": "rent cheap cabs",
        "intents": [
            {
                "name": "book_taxi",
                "description": "book taxis",
                "is_transactional": True,
                "required_slots": [],
                "optional_slots": {"taxi-departure": "dontcare", "taxi-destination": "dontcare"},
            }
        ],
    },
]

DOMAINS = [s["service_name"] for s in SCHEMA]


def _user(turn_id: int, utterance: str, states: dict[str, dict], spans=None) -> dict:
    """A user turn with a frame for every domain (active or not), as MultiWOZ 2.2 has."""
    frames = []
    for domain in DOMAINS:
        state = states.get(domain, {})
        frames.append(
            {
                "actions": [],
                "service": domain,
                "slots": (spans or {}).get(domain, []),
                "state": {
                    "active_intent": state.get("intent", "NONE"),
                    "requested_slots": state.get("requested", []),
                    "slot_values": state.get("values", {}),
                },
            }
        )
    return {"frames": frames, "speaker": "USER", "turn_id": str(turn_id), "utterance": utterance}


def _system(turn_id: int, utterance: str, spans: dict[str, list] | None = None) -> dict:
    frames = [
        {"actions": [], "service": domain, "slots": slots}
        for domain, slots in (spans or {}).items()
    ]
    return {"frames": frames, "speaker": "SYSTEM", "turn_id": str(turn_id), "utterance": utterance}


def _span(utterance: str, slot: str, value: str) -> dict:
    start = utterance.index(value)
    return {"exclusive_end": start + len(value), "slot": slot, "start": start, "value": value}


def dialogues() -> list[dict]:
    u0 = "i want a cheap restaurant serving chinese food in the centre."
    s1 = "the golden house is a cheap chinese place in the centre. shall i book it?"
    u2 = "yes, for 2 people at 18:30 on friday. i also need a taxi from there to the station."
    s3 = "booked, reference is abc123. your taxi is booked too."
    u4 = "thanks, bye."
    restaurant_2 = {
        "restaurant-pricerange": ["cheap"],
        "restaurant-food": ["chinese"],
        "restaurant-area": ["centre"],
        "restaurant-name": ["golden house"],
        "restaurant-bookpeople": ["2"],
        "restaurant-booktime": ["18:30"],
        "restaurant-bookday": ["friday"],
    }
    d1 = {
        "dialogue_id": "PMUL0001.json",
        "services": ["restaurant", "taxi"],
        "turns": [
            _user(
                0,
                u0,
                {
                    "restaurant": {
                        "intent": "find_restaurant",
                        "values": {
                            "restaurant-pricerange": ["cheap"],
                            "restaurant-food": ["chinese"],
                            "restaurant-area": ["centre"],
                        },
                    }
                },
                {"restaurant": [_span(u0, "restaurant-food", "chinese")]},
            ),
            _system(1, s1, {"restaurant": [_span(s1, "restaurant-name", "golden house")]}),
            _user(
                2,
                u2,
                {
                    "restaurant": {"intent": "book_restaurant", "values": restaurant_2},
                    "taxi": {
                        "intent": "book_taxi",
                        "values": {
                            "taxi-departure": ["golden house"],
                            "taxi-destination": ["the station"],
                        },
                    },
                },
                {
                    "restaurant": [_span(u2, "restaurant-booktime", "18:30")],
                    "taxi": [
                        {
                            "copy_from": "restaurant-name",
                            "slot": "taxi-departure",
                            "value": ["golden house"],
                        },
                        _span(u2, "taxi-destination", "the station"),
                    ],
                },
            ),
            _system(3, s3, {"restaurant": [_span(s3, "restaurant-ref", "abc123")]}),
            _user(
                4,
                u4,
                {
                    "restaurant": {"values": restaurant_2},
                    "taxi": {
                        "values": {
                            "taxi-departure": ["golden house"],
                            "taxi-destination": ["the station"],
                        }
                    },
                },
            ),
            _system(5, "you are welcome. goodbye."),
        ],
    }
    u0 = "find me a 4 star hotel in the north with free parking, what is the address?"
    s1 = "acorn guest house is a 4 star hotel in the north."
    d2 = {
        "dialogue_id": "SNG0002.json",
        "services": ["hotel"],
        "turns": [
            _user(
                0,
                u0,
                {
                    "hotel": {
                        "intent": "find_hotel",
                        "requested": ["hotel-address"],
                        "values": {
                            "hotel-stars": ["4"],
                            "hotel-area": ["north"],
                            "hotel-parking": ["free"],
                        },
                    }
                },
            ),
            _system(1, s1, {"hotel": [_span(s1, "hotel-name", "acorn guest house")]}),
        ],
    }
    return [d1, d2]


def dialog_acts() -> dict:
    return {
        "PMUL0001.json": {
            "0": {
                "dialog_act": {
                    "Restaurant-Inform": [["food", "chinese"], ["price", "cheap"], ["area", "centre"]]
                },
                "span_info": [["Restaurant-Inform", "food", "chinese", 34, 41]],
            },
            "1": {
                "dialog_act": {"Booking-Inform": [["none", "none"]],
                               "Restaurant-Recommend": [["name", "golden house"]]},
                "span_info": [["Restaurant-Recommend", "name", "golden house", 4, 16]],
            },
        }
    }


def write_multiwoz_fixture(root: Path, *, splits=("train", "dev", "test")) -> Path:
    """Write the fixture corpus under ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "schema.json").write_text(json.dumps(SCHEMA, indent=2))
    for split in splits:
        (root / split).mkdir(exist_ok=True)
        (root / split / "dialogues_001.json").write_text(json.dumps(dialogues(), indent=2))
    (root / "dialog_acts.json").write_text(json.dumps(dialog_acts(), indent=2))
    return root
