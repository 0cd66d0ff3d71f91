"""Small MultiWOZ evaluation fixtures in mwzeval's published formats, built in tmp dirs.

Layout written by :func:`write_data_root` (what ``tod_lab.eval.multiwoz.load_references``
reads): ``goals.json``, ``booked_domains.json``, ``references/mwz22.json``,
``gold_states.json`` and a tiny ``db/`` (four venue databases in MultiWOZ's own format).
:data:`PREDICTIONS` are mwzeval-format predictions for the seven dialogues; the expected
Inform / Success outcome of each is spelled out next to it.
"""

from __future__ import annotations

import json
from pathlib import Path


def _restaurant(id_, name, food, pricerange):
    return {"address": f"{name} street", "area": "centre", "food": food, "id": id_,
            "introduction": "ignored", "location": [52.2, 0.12], "name": name,
            "phone": "01223000000", "postcode": "cb21ab", "pricerange": pricerange,
            "type": "restaurant"}


def _train(train_id, destination, leave, arrive):
    return {"arriveBy": arrive, "day": "monday", "departure": "cambridge",
            "destination": destination, "duration": "51 minutes", "leaveAt": leave,
            "price": "23.60 pounds", "trainID": train_id}


DB = {
    "restaurant": [
        _restaurant("r1", "golden house", "chinese", "cheap"),
        _restaurant("r2", "charlie chan", "chinese", "cheap"),
        _restaurant("r3", "hk fusion", "chinese", "expensive"),
        _restaurant("r4", "pizza hut city centre", "italian", "cheap"),
    ],
    "hotel": [
        {"address": "154 chesterton road", "area": "north", "internet": "yes", "parking": "yes",
         "id": "h1", "location": [52.2, 0.1], "name": "acorn guest house",
         "phone": "01223353888", "postcode": "cb41da", "price": {"single": "50"},
         "pricerange": "moderate", "stars": "4", "takesbookings": "yes", "type": "guesthouse"},
        {"address": "74 chesterton road", "area": "north", "internet": "yes", "parking": "yes",
         "id": "h2", "location": [52.2, 0.1], "name": "ashley hotel", "phone": "01223350059",
         "postcode": "cb41er", "price": {"single": "75"}, "pricerange": "moderate",
         "stars": "2", "takesbookings": "yes", "type": "hotel"},
    ],
    "attraction": [
        {"address": "saint andrew's street", "area": "centre", "entrance fee": "free",
         "id": "a1", "location": [52.2, 0.12], "name": "christ's college",
         "openhours": "?", "phone": "01223334900", "postcode": "cb23bu", "pricerange": "free",
         "type": "college"},
    ],
    "train": [
        _train("TR1", "london kings cross", "05:00", "05:51"),
        _train("TR2", "london kings cross", "07:00", "07:51"),
        _train("TR3", "london kings cross", "09:00", "09:51"),
        _train("TR4", "ely", "09:00", "09:17"),
    ],
}

CHEAP_CHINESE = {"food": "chinese", "area": "centre", "pricerange": "cheap"}
CHINESE = {"food": "chinese", "area": "centre"}  # under-specified: also matches r3


def _turn(response, state, domains):
    return {"response": response, "state": state, "active_domains": domains}


GOALS = {
    # D1 restaurant (booked) + taxi: everything given -> inform and success
    "pmul0001": {
        "restaurant": {"informable": dict(CHEAP_CHINESE), "requestable": ["PHONE", "REFERENCE"]},
        "taxi": {"informable": {"departure": "golden house", "destination": "the station"},
                 "requestable": ["PHONE"]},
    },
    # D2 train, no train id asked for and none offered -> matched automatically
    "sng0002": {"train": {"informable": {"departure": "cambridge",
                                         "destination": "london kings cross",
                                         "day": "monday", "arrive": "08:00"},
                          "requestable": []}},
    # D3 the same train goal, but the id was requested and never offered -> no inform
    "sng0003": {"train": {"informable": {"departure": "cambridge",
                                         "destination": "london kings cross",
                                         "day": "monday", "arrive": "08:00"},
                          "requestable": ["TRAINID"]}},
    # D4 hotel named in the goal (matched); the reference is given before the booking -> no success
    "sng0004": {"hotel": {"informable": {"name": "acorn guest house", "stay": "2"},
                          "requestable": ["REFERENCE"]}},
    # D5 offered under-specified (r1 r2 r3), then refined (r1 r2): r3 drops out -> inform
    "sng0005": {"restaurant": {"informable": dict(CHEAP_CHINESE), "requestable": []}},
    # D6 offered r1 r2, then an under-specified mention (r1 r2 r3) keeps r1 r2 -> inform
    "sng0006": {"restaurant": {"informable": dict(CHEAP_CHINESE), "requestable": []}},
    # D7 only the under-specified offer (r3 is expensive) -> no inform
    "sng0007": {"restaurant": {"informable": dict(CHEAP_CHINESE), "requestable": ["PHONE"]}},
}

PREDICTIONS = {
    "pmul0001": [
        _turn("[restaurant_name] is a cheap chinese place in the [value_area] .",
              {"restaurant": dict(CHEAP_CHINESE)}, ["restaurant"]),
        _turn("booked , your reference is [restaurant_reference] . call [restaurant_phone] .",
              {"restaurant": {**CHEAP_CHINESE, "bookday": "friday"}}, ["restaurant"]),
        _turn("your taxi is booked , the driver's number is [taxi_phone] .",
              {"restaurant": {**CHEAP_CHINESE, "bookday": "friday"},
               "taxi": {"departure": "golden house", "destination": "the station"}},
              ["taxi"]),
    ],
    "sng0002": [
        _turn("there are [value_choice] trains . where are you going ?",
              {"train": {"departure": "cambridge"}}, ["train"]),
        _turn("anything else ?", {"train": {"departure": "cambridge"}}, ["train"]),
    ],
    "sng0003": [
        _turn("there are [value_choice] trains . where are you going ?",
              {"train": {"departure": "cambridge"}}, ["train"]),
        _turn("anything else ?", {"train": {"departure": "cambridge"}}, ["train"]),
    ],
    "sng0004": [
        _turn("[hotel_name] is booked , reference [hotel_reference] .",
              {"hotel": {"name": "acorn guest house"}}, ["hotel"]),
        _turn("you are welcome .", {"hotel": {"name": "acorn guest house"}}, ["hotel"]),
    ],
    "sng0005": [
        _turn("how about [restaurant_name] ?", {"restaurant": dict(CHINESE)}, ["restaurant"]),
        _turn("then [restaurant_name] is a good choice .",
              {"restaurant": dict(CHEAP_CHINESE)}, ["restaurant"]),
    ],
    "sng0006": [
        _turn("how about [restaurant_name] ?", {"restaurant": dict(CHEAP_CHINESE)},
              ["restaurant"]),
        _turn("[restaurant_name] serves chinese food .", {"restaurant": dict(CHINESE)},
              ["restaurant"]),
    ],
    "sng0007": [
        _turn("how about [restaurant_name] ? the phone is [restaurant_phone] .",
              {"restaurant": dict(CHINESE)}, ["restaurant"]),
    ],
}

BOOKED_DOMAINS = {
    "pmul0001": [[], ["restaurant"], ["restaurant"]],
    "sng0002": [[], []],
    "sng0003": [[], []],
    "sng0004": [[], ["hotel"]],
    "sng0005": [[], []],
    "sng0006": [[], []],
    "sng0007": [[]],
}

# expected mwzeval rates (hand-computed, see the comments of GOALS)
EXPECTED_INFORM = {"total": 71.4, "restaurant": 75.0, "taxi": 100.0, "train": 50.0,
                   "hotel": 100.0}  # 5/7, 3/4, 1/1, 1/2, 1/1
EXPECTED_SUCCESS = {"total": 57.1, "restaurant": 75.0, "taxi": 100.0, "train": 50.0,
                    "hotel": 0.0}  # 4/7, 3/4, 1/1, 1/2, 0/1


def references(predictions=PREDICTIONS) -> dict[str, list[str]]:
    """References equal to the normalised predicted responses (BLEU 100)."""
    from tod_lab.eval.mwz_normalize import normalize_response

    return {k: [normalize_response(t["response"]) for t in turns] for k, turns in predictions.items()}


def gold_states(predictions=PREDICTIONS) -> dict[str, list[dict]]:
    from tod_lab.eval.mwz_normalize import normalize_state

    return {k: [normalize_state(t["state"]) for t in turns] for k, turns in predictions.items()}


def write_data_root(root: Path, *, db: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "goals.json").write_text(json.dumps(GOALS))
    (root / "booked_domains.json").write_text(json.dumps(BOOKED_DOMAINS))
    (root / "references").mkdir(exist_ok=True)
    (root / "references" / "mwz22.json").write_text(json.dumps(references()))
    (root / "gold_states.json").write_text(json.dumps(gold_states()))
    if db:
        (root / "db").mkdir(exist_ok=True)
        for domain, records in DB.items():
            (root / "db" / f"{domain}_db.json").write_text(json.dumps(records))
    return root
