"""A small hand-built SGD-format schema and dialogue for PyTOD unit tests.

One search service and one transactional intent, with categorical (numeric, boolean,
mixed-case) and free-form slots; the dialogue carries the annotations the runtime replays
(system OFFER / CONFIRM acts, service calls with results).
"""

from __future__ import annotations

from tod_lab.data.types import Dialogue, Schema

SCHEMA_JSON = [
    {
        "service_name": "Restaurants_9",
        "description": "Find and book restaurants",
        "slots": [
            {"name": "city", "description": "City of the restaurant", "is_categorical": False,
             "possible_values": []},
            {"name": "cuisine", "description": "Kind of food", "is_categorical": False,
             "possible_values": []},
            {"name": "restaurant_name", "description": "Name of the restaurant",
             "is_categorical": False, "possible_values": []},
            {"name": "party_size", "description": "Number of people", "is_categorical": True,
             "possible_values": ["1", "2", "3", "4"]},
            {"name": "outdoor", "description": "Whether it has seats outside",
             "is_categorical": True, "possible_values": ["True", "False"]},
            {"name": "price_range", "description": "Price range", "is_categorical": True,
             "possible_values": ["Cheap", "Moderate", "Pricey"]},
            {"name": "time", "description": "Time of the reservation", "is_categorical": False,
             "possible_values": []},
            {"name": "phone_number", "description": "Phone number", "is_categorical": False,
             "possible_values": []},
        ],
        "intents": [
            {"name": "FindRestaurants", "description": "Find a restaurant",
             "is_transactional": False, "required_slots": ["city", "cuisine"],
             "optional_slots": {"price_range": "dontcare", "outdoor": "dontcare"},
             "result_slots": ["city", "cuisine", "restaurant_name", "price_range", "outdoor",
                              "phone_number"]},
            {"name": "ReserveRestaurant", "description": "Book a table",
             "is_transactional": True, "required_slots": ["restaurant_name", "city", "time"],
             "optional_slots": {"party_size": "2", "price_range": "dontcare"},
             "result_slots": ["restaurant_name", "city", "time", "party_size", "phone_number"]},
        ],
    }
]

ROWS = [
    {"city": "San Jose", "cuisine": "Thai", "restaurant_name": "Bangkok Bay",
     "price_range": "Cheap", "outdoor": "True", "phone_number": "408-111"},
    {"city": "San Jose", "cuisine": "Thai", "restaurant_name": "Lotus",
     "price_range": "Moderate", "outdoor": "False", "phone_number": "408-222"},
]


def _act(act, slot="", values=(), canonical=None):
    out = {"act": act, "slot": slot, "values": list(values)}
    out["canonical_values"] = list(canonical if canonical is not None else values)
    return out


def _user(utterance, actions, state):
    return {"speaker": "USER", "utterance": utterance, "frames": [
        {"service": "Restaurants_9", "actions": actions, "slots": [], "state": state}]}


def _system(utterance, actions, call=None, results=None):
    frame = {"service": "Restaurants_9", "actions": actions, "slots": []}
    if call is not None:
        frame["service_call"] = call
        frame["service_results"] = results or []
    return {"speaker": "SYSTEM", "utterance": utterance, "frames": [frame]}


def _state(intent, values, requested=()):
    return {"active_intent": intent, "requested_slots": list(requested),
            "slot_values": {k: list(v) for k, v in values.items()}}


DIALOGUE_JSON = {
    "dialogue_id": "9_00001",
    "services": ["Restaurants_9"],
    "turns": [
        _user("I want Thai food in San Jose.",
              [_act("INFORM", "cuisine", ["Thai"]), _act("INFORM", "city", ["San Jose"]),
               _act("INFORM_INTENT", "intent", ["FindRestaurants"])],
              _state("FindRestaurants", {"cuisine": ["Thai"], "city": ["San Jose"]})),
        _system("How about Bangkok Bay? It is cheap.",
                [_act("OFFER", "restaurant_name", ["Bangkok Bay"]),
                 _act("OFFER", "price_range", ["Cheap"])],
                {"method": "FindRestaurants",
                 "parameters": {"city": "San Jose", "cuisine": "Thai"}}, ROWS),
        _user("Sounds good, book it for 7 pm for two.",
              [_act("SELECT"), _act("INFORM", "time", ["7 pm"], ["19:00"]),
               _act("INFORM", "party_size", ["two"], ["2"]),
               _act("INFORM_INTENT", "intent", ["ReserveRestaurant"])],
              _state("ReserveRestaurant", {"cuisine": ["Thai"], "city": ["San Jose"],
                                           "restaurant_name": ["Bangkok Bay"],
                                           "price_range": ["Cheap"], "time": ["7 pm"],
                                           "party_size": ["2"]})),
        _system("Please confirm: a table for 2 at Bangkok Bay at 7 pm.",
                [_act("CONFIRM", "restaurant_name", ["Bangkok Bay"]),
                 _act("CONFIRM", "time", ["7 pm"], ["19:00"]),
                 _act("CONFIRM", "party_size", ["2"])]),
        _user("Yes. What is their phone number?",
              [_act("AFFIRM"), _act("REQUEST", "phone_number")],
              _state("ReserveRestaurant", {"cuisine": ["Thai"], "city": ["San Jose"],
                                           "restaurant_name": ["Bangkok Bay"],
                                           "price_range": ["Cheap"], "time": ["7 pm"],
                                           "party_size": ["2"]}, ["phone_number"])),
        _system("Booked. Their number is 408-111.",
                [_act("NOTIFY_SUCCESS"), _act("INFORM", "phone_number", ["408-111"])],
                {"method": "ReserveRestaurant",
                 "parameters": {"restaurant_name": "Bangkok Bay", "city": "San Jose",
                                "time": "19:00", "party_size": "2"}},
                [{**ROWS[0], "time": "19:00", "party_size": "2"}]),
        _user("Thanks, that's all.", [_act("THANK_YOU")],
              _state("NONE", {"cuisine": ["Thai"], "city": ["San Jose"],
                              "restaurant_name": ["Bangkok Bay"], "price_range": ["Cheap"],
                              "time": ["7 pm"], "party_size": ["2"]})),
        _system("Bye.", [_act("GOODBYE")]),
    ],
}


def schema() -> Schema:
    return Schema.from_json(SCHEMA_JSON)


def dialogue() -> Dialogue:
    return Dialogue.from_json(DIALOGUE_JSON)


REQUEST_DIALOGUE_JSON = {
    "dialogue_id": "9_00002",
    "services": ["Restaurants_9"],
    "turns": [
        _user("Book a table at Lotus in San Jose.",
              [_act("INFORM", "restaurant_name", ["Lotus"]), _act("INFORM", "city", ["San Jose"]),
               _act("INFORM_INTENT", "intent", ["ReserveRestaurant"])],
              _state("ReserveRestaurant", {"restaurant_name": ["Lotus"], "city": ["San Jose"]})),
        _system("What time would you like?", [_act("REQUEST", "time")]),
        _user("At 8 pm please.", [_act("INFORM", "time", ["8 pm"], ["20:00"])],
              _state("ReserveRestaurant", {"restaurant_name": ["Lotus"], "city": ["San Jose"],
                                           "time": ["8 pm"]})),
        _system("Bye.", [_act("GOODBYE")]),
    ],
}


def request_dialogue() -> Dialogue:
    return Dialogue.from_json(REQUEST_DIALOGUE_JSON)
