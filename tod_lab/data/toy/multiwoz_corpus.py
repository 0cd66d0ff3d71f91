"""The MultiWOZ-2.2-layout toy corpus (``data=toy_multiwoz``).

Layout written under the corpus directory, exactly as MultiWOZ 2.2 (+ mwzeval's files)::

    schema.json                 SGD-style schema, ``domain-slot`` slot names
    {train,dev,test}/dialogues_001.json ...
    dialog_acts.json            {dialogue_id: {turn_id: {"dialog_act": {...}, "span_info": [...]}}}
    db/{restaurant,hotel,attraction,train}_db.json
    goals.json                  user goals, mwzeval format (below)
    booked_domains.json         booked domains per system turn, mwzeval format (below)

Dialogues: ids ``SNG00001.json`` (one domain) / ``MUL00002.json`` (several), numbered
across splits. Every user turn has a frame for every domain (the 2.2 quirk) with the
cumulative state (``active_intent`` ``find_<domain>`` / ``book_<domain>`` for the domain
in play, ``NONE`` for the others); non-categorical values the user says are spans with
``value``. System turns have one frame per domain they talk about, with the spans of
every non-categorical value they say (names, addresses, references, train ids, times),
and no state. Frames carry no actions: acts live in ``dialog_acts.json``.

``dialog_acts.json`` (MultiWOZ 2.2 format): ``dialog_act`` maps ``Domain-Act`` (Restaurant-
Inform, Restaurant-Request, Restaurant-Recommend, Hotel-..., Attraction-..., Train-Inform,
Train-OfferBook, Train-OfferBooked, Booking-Request, Booking-Book, Booking-NoBook,
general-greet / -thank / -reqmore / -bye / -welcome) to ``[[slot, value], ...]`` with
MultiWOZ 2.2 slot names (area, food, pricerange, name, type, stars, parking, internet,
address, phone, postcode, entrancefee, openhours, departure, destination, day, leaveat,
arriveby, trainid, price, duration, bookday, bookpeople, booktime, bookstay, ref, choice;
``["slot", "?"]`` for requests, ``["none", "none"]`` for acts without a slot).
``span_info`` lists ``[act, slot, value, start, exclusive_end]`` for every value said
verbatim — replacing each span by ``[slot]`` is mwzeval's delexicalisation, and gives
``[name]`` / ``[phone]`` / ``[ref]`` / ``[trainid]`` ... placeholders.

``goals.json`` (the exact format mwzeval's ``load_goals()`` returns)::

    {"mul00002": {                                   # dialogue id, lower case, no ".json"
        "restaurant": {
            "informable": {"food": "italian", "area": "centre"},   # search constraints
            "requestable": ["PHONE", "REFERENCE"],
            "booking": {"people": "2", "day": "monday", "time": "18:30"}},
        "train": {
            "informable": {"departure": "millbrook", "destination": "ashford",
                           "day": "friday", "leave": "09:15"},
            "requestable": ["TRAINID"], "booking": {}}}}

- ``informable``: the user's final search constraints of the domain, with mwzeval's
  normalised slot names (the state names without the domain; ``leaveat`` -> ``leave``,
  ``arriveby`` -> ``arrive``); ``dontcare`` constraints and booking slots are left out.
  A goal that names the venue has ``name`` (mwzeval then matches the domain at once).
- ``requestable``: mwzeval's tokens among ``PHONE``, ``ADDRESS``, ``POST``, ``REFERENCE``
  (the domain was booked), ``TRAINID`` (the user asked for the train id).
- ``booking``: ``people`` / ``day`` / ``time`` (restaurant) / ``stay`` (hotel) as booked;
  ``{}`` when the domain was not booked.

``booked_domains.json``: ``{dialogue id (as above): [[domains booked so far], ...]}`` with
one list per SYSTEM turn, cumulative, in booking order (the turn giving the reference
number is the first to include its domain).

Every venue the system offers is the first DB match of the user's constraints at that
turn, and the system names a venue only once all of the goal's constraints are known, so
the gold responses and states reach Inform = Success = 100% under mwzeval.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tod_lab.data.io import write_json
from tod_lab.data.toy.cache import CorpusParams
from tod_lab.data.toy.multiwoz_world import (
    AREAS,
    ATTRACTION_TYPES,
    DAYS,
    HOTEL_TYPES,
    PRICERANGES,
    STATIONS,
    MultiWOZWorld,
    Record,
)
from tod_lab.data.toy.rendering import Mention, UtteranceBuilder, placeholders

DOMAINS = ("restaurant", "hotel", "attraction", "train")
DIALOGUES_PER_FILE = 256
DONTCARE = "dontcare"
MWZEVAL_SLOT = {"leaveat": "leave", "arriveby": "arrive"}
REQUEST_TOKENS = {"phone": "PHONE", "address": "ADDRESS", "postcode": "POST", "trainid": "TRAINID"}
BOOKING_KEYS = {"bookpeople": "people", "bookday": "day", "booktime": "time", "bookstay": "stay"}

# --------------------------------------------------------------------------- schema


def _slot(domain: str, name: str, description: str, values: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "name": f"{domain}-{name}",
        "description": description,
        "possible_values": list(values),
        "is_categorical": bool(values),
    }


NUMBERS = tuple(str(i) for i in range(1, 9))

SCHEMA: list[dict[str, Any]] = [
    {
        "service_name": "restaurant",
        "description": "find places to dine and whet your appetite",
        "slots": [
            _slot("restaurant", "pricerange", "price budget for the restaurant", PRICERANGES),
            _slot("restaurant", "area", "area or place of the restaurant", AREAS),
            _slot("restaurant", "food", "the cuisine of the restaurant you are looking for"),
            _slot("restaurant", "name", "name of the restaurant"),
            _slot("restaurant", "bookday", "day of the restaurant booking", DAYS),
            _slot("restaurant", "bookpeople", "how many people for the restaurant reservation", NUMBERS),
            _slot("restaurant", "booktime", "time of the restaurant booking"),
            _slot("restaurant", "address", "address of the restaurant"),
            _slot("restaurant", "phone", "phone number of the restaurant"),
            _slot("restaurant", "postcode", "postal code of the restaurant"),
            _slot("restaurant", "ref", "reference number of the restaurant booking"),
        ],
        "intents": [
            {"name": "find_restaurant", "description": "search for places to wine and dine",
             "is_transactional": False, "required_slots": [],
             "optional_slots": {f"restaurant-{s}": DONTCARE for s in (
                 "pricerange", "area", "food", "name", "bookday", "bookpeople", "booktime")}},
            {"name": "book_restaurant", "description": "book a table at a restaurant",
             "is_transactional": True, "required_slots": [],
             "optional_slots": {f"restaurant-{s}": DONTCARE for s in (
                 "pricerange", "area", "food", "name", "bookday", "bookpeople", "booktime")}},
        ],
    },
    {
        "service_name": "hotel",
        "description": "hotel reservations and vacation stays",
        "slots": [
            _slot("hotel", "pricerange", "price budget of the hotel", PRICERANGES),
            _slot("hotel", "type", "what is the type of the hotel", HOTEL_TYPES),
            _slot("hotel", "parking", "whether the hotel has parking", ("free", "no", "yes")),
            _slot("hotel", "bookday", "day of the hotel booking", DAYS),
            _slot("hotel", "bookpeople", "number of people for the hotel booking", NUMBERS),
            _slot("hotel", "bookstay", "length of stay at the hotel", NUMBERS),
            _slot("hotel", "stars", "star rating of the hotel", ("0", "1", "2", "3", "4", "5")),
            _slot("hotel", "internet", "whether the hotel has internet", ("free", "no", "yes")),
            _slot("hotel", "name", "name of the hotel"),
            _slot("hotel", "area", "area or place of the hotel", AREAS),
            _slot("hotel", "address", "address of the hotel"),
            _slot("hotel", "phone", "phone number of the hotel"),
            _slot("hotel", "postcode", "postal code of the hotel"),
            _slot("hotel", "ref", "reference number of the hotel booking"),
        ],
        "intents": [
            {"name": "find_hotel", "description": "search for a hotel to stay in",
             "is_transactional": False, "required_slots": [],
             "optional_slots": {f"hotel-{s}": DONTCARE for s in (
                 "pricerange", "type", "parking", "bookday", "bookpeople", "bookstay", "stars",
                 "internet", "name", "area")}},
            {"name": "book_hotel", "description": "book a hotel to stay in",
             "is_transactional": True, "required_slots": [],
             "optional_slots": {f"hotel-{s}": DONTCARE for s in (
                 "pricerange", "type", "parking", "bookday", "bookpeople", "bookstay", "stars",
                 "internet", "name", "area")}},
        ],
    },
    {
        "service_name": "attraction",
        "description": "find touristy stuff to do around you",
        "slots": [
            _slot("attraction", "area", "area to search for attractions", AREAS),
            _slot("attraction", "name", "name of the attraction"),
            _slot("attraction", "type", "type of the attraction", ATTRACTION_TYPES),
            _slot("attraction", "entrancefee", "how much is the entrance fee"),
            _slot("attraction", "openhours", "open hours of the attraction"),
            _slot("attraction", "address", "address of the attraction"),
            _slot("attraction", "phone", "phone number of the attraction"),
            _slot("attraction", "postcode", "postal code of the attraction"),
        ],
        "intents": [
            {"name": "find_attraction", "description": "search for places to see for leisure",
             "is_transactional": False, "required_slots": [],
             "optional_slots": {f"attraction-{s}": DONTCARE for s in ("area", "name", "type")}},
        ],
    },
    {
        "service_name": "train",
        "description": "find trains that take you to places",
        "slots": [
            _slot("train", "arriveby", "arrival time of the train"),
            _slot("train", "departure", "departure location of the train", STATIONS),
            _slot("train", "day", "day of the train", DAYS),
            _slot("train", "bookpeople", "how many train tickets you need", NUMBERS),
            _slot("train", "leaveat", "leaving time for the train"),
            _slot("train", "destination", "destination of the train", STATIONS),
            _slot("train", "trainid", "id of the train"),
            _slot("train", "ref", "reference number of the train booking"),
            _slot("train", "price", "price of the train"),
            _slot("train", "duration", "duration of the travel"),
        ],
        "intents": [
            {"name": "find_train", "description": "search for trains that take you places",
             "is_transactional": False, "required_slots": [],
             "optional_slots": {f"train-{s}": DONTCARE for s in (
                 "destination", "arriveby", "departure", "day", "bookpeople", "leaveat")}},
            {"name": "book_train", "description": "book train tickets",
             "is_transactional": True, "required_slots": [],
             "optional_slots": {f"train-{s}": DONTCARE for s in (
                 "destination", "arriveby", "departure", "day", "bookpeople", "leaveat")}},
        ],
    },
]  # fmt: skip
CATEGORICAL = {
    slot["name"] for service in SCHEMA for slot in service["slots"] if slot["is_categorical"]
}
SCHEMA_SLOTS = {slot["name"] for service in SCHEMA for slot in service["slots"]}

# --------------------------------------------------------------------------- language


@dataclass(frozen=True)
class DomainLanguage:
    noun: str  # "restaurant"
    plural: str
    intro: tuple[str, ...]  # "I'm looking for a restaurant."
    combos: tuple[str, ...]  # intro templates embedding constraints ({food}, {area}, ...)
    tell: Mapping[str, tuple[str, ...]]  # user clauses per constraint, "{v}" = value
    ask: Mapping[str, tuple[str, ...]]  # system questions per constraint
    offer: tuple[str, ...]  # system recommendation templates ({name}, {area}, ...)
    answer: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # system: "{v}"
    request: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # user asks


_CONTACT_ANSWERS = {
    "phone": ("The phone number is {v}.", "You can call them on {v}."),
    "address": ("The address is {v}.", "They are located at {v}."),
    "postcode": ("The postcode is {v}.", "Their postcode is {v}."),
}
_CONTACT_REQUESTS = {
    "phone": ("phone number",), "address": ("address",), "postcode": ("postcode", "post code"),
}  # fmt: skip

LANGUAGE: dict[str, DomainLanguage] = {
    "restaurant": DomainLanguage(
        "restaurant", "restaurants",
        intro=("I'm looking for a restaurant.", "I need a place to eat.",
               "Can you help me find a restaurant?"),
        combos=("I'm looking for a {pricerange} restaurant in the {area}.",
                "I want a restaurant that serves {food} food.",
                "Find me a {pricerange} {food} restaurant, please.",
                "I need a {food} place in the {area} of town."),
        tell={"food": ("I'd like {v} food.", "It should serve {v} food."),
              "pricerange": ("It should be in the {v} price range.", "Something {v}, please."),
              "area": ("It should be in the {v}.", "Somewhere in the {v} of town."),
              "name": ("I'm looking for a restaurant called {v}.", "Do you know {v}?")},
        ask={"food": ("What type of food would you like?", "Do you have a cuisine in mind?"),
             "pricerange": ("What price range are you looking for?",),
             "area": ("Which part of town would you like?", "What area do you prefer?")},
        offer=("There is {name}, a {pricerange} {food} restaurant in the {area}.",
               "How about {name}? It serves {food} food.",
               "I recommend {name} in the {area}."),
        answer=_CONTACT_ANSWERS, request=_CONTACT_REQUESTS,
    ),
    "hotel": DomainLanguage(
        "hotel", "hotels",
        intro=("I need a place to stay.", "I'm looking for somewhere to stay.",
               "Can you help me find a hotel?"),
        combos=("I need a {pricerange} {type} in the {area}.",
                "I'm looking for a {stars} star {type}.",
                "Find me a {type} in the {area}, please."),
        tell={"type": ("I'd prefer a {v}.", "It should be a {v}."),
              "pricerange": ("It should be {v}.", "My budget is {v}."),
              "area": ("It should be in the {v}.", "I'd like to stay in the {v}."),
              "stars": ("It should have {v} stars.", "I want a {v} star place."),
              "parking": {"yes": ("I need free parking.",), "no": ("I don't need parking.",)},
              "internet": {"yes": ("It should have free wifi.",), "no": ("I don't need internet.",)},
              "name": ("I'm looking for a hotel called {v}.", "Can you tell me about {v}?")},
        ask={"type": ("Would you prefer a hotel or a guesthouse?",),
             "pricerange": ("What is your price range?",),
             "area": ("Which area would you like to stay in?",),
             "stars": ("How many stars should it have?",),
             "parking": ("Do you need parking?",), "internet": ("Do you need internet?",)},
        offer=("There is {name}, a {stars} star {type} in the {area}.",
               "I recommend {name}. It is a {pricerange} {type}.",
               "How about {name} in the {area}?"),
        answer=_CONTACT_ANSWERS, request=_CONTACT_REQUESTS,
    ),
    "attraction": DomainLanguage(
        "attraction", "attractions",
        intro=("Can you recommend something to do in town?", "I'm looking for an attraction.",
               "What is there to see around here?"),
        combos=("Are there any {type} in the {area}?", "I'd like to visit one of the {type}.",
                "What attractions are there in the {area}?"),
        tell={"type": ("I'm interested in {v}.", "Are there any {type}?".replace("{type}", "{v}")),
              "area": ("It should be in the {v}.", "Somewhere in the {v}, please."),
              "name": ("I'm looking for {v}.", "Can you tell me about {v}?")},
        ask={"type": ("What type of attraction are you interested in?",),
             "area": ("Which area of town?",)},
        offer=("There is {name}, a {type} in the {area}.", "You might enjoy {name} in the {area}.",
               "I suggest {name}."),
        answer={**_CONTACT_ANSWERS,
                "entrancefee": ("The entrance fee is {v}.", "Admission is {v}.")},
        request={**_CONTACT_REQUESTS, "entrancefee": ("entrance fee",)},
    ),
    "train": DomainLanguage(
        "train", "trains",
        intro=("I need a train.", "Can you help me find a train?", "I'm looking for a train."),
        combos=("I need a train from {departure} to {destination}.",
                "I'm looking for a train to {destination} on {day}.",
                "Is there a train leaving {departure} on {day}?"),
        tell={"departure": ("I'm leaving from {v}.", "I'll be departing from {v}."),
              "destination": ("I'm going to {v}.", "The destination is {v}."),
              "day": ("I want to travel on {v}.", "It's for {v}."),
              "leaveat": ("I want to leave after {v}.", "It should leave after {v}."),
              "arriveby": ("I need to arrive by {v}.", "It should arrive by {v}.")},
        ask={"departure": ("Where will you be departing from?",),
             "destination": ("Where are you heading?", "What is your destination?"),
             "day": ("What day will you travel?",),
             "leaveat": ("When would you like to leave?",),
             "arriveby": ("When do you need to arrive?",)},
        offer=(),
        answer={"price": ("The price is {v}.", "It costs {v}."),
                "duration": ("The journey takes {v}.",),
                "trainid": ("The train id is {v}.",)},
        request={"price": ("price",), "duration": ("travel time",), "trainid": ("train id",)},
    ),
}  # fmt: skip

# how people say categorical values that are not words (user: plural, system: singular)
USER_DISPLAY = {"type": {"museum": "museums", "park": "parks", "theatre": "theatres",
                         "college": "colleges", "nightclub": "nightclubs", "cinema": "cinemas",
                         "architecture": "historic buildings", "boat": "boat tours",
                         "swimmingpool": "swimming pools", "concerthall": "concert halls"}}
SYSTEM_DISPLAY = {"type": {"architecture": "historic building", "boat": "boat tour",
                           "swimmingpool": "swimming pool", "concerthall": "concert hall"}}
USER_DONTCARE = ("Any {label} is fine.", "I don't mind about the {label}.",
                 "The {label} doesn't matter.")  # fmt: skip
LABELS = {"area": "area", "pricerange": "price range", "stars": "star rating",
          "parking": "parking", "internet": "internet", "type": "type", "food": "food"}  # fmt: skip
USER_THANKS = ("Thank you.", "Thanks, that's helpful.", "Great, thanks.")
USER_BYE = ("That's all I need, thank you. Goodbye!", "Thanks for your help, bye.",
            "No, that's everything. Thanks!")  # fmt: skip
SYSTEM_REQMORE = ("Is there anything else I can help you with?", "Can I help with anything else?")
SYSTEM_BYE = ("You're welcome. Have a great day!", "Thank you for using our service. Goodbye!")
REQUEST_FRAMES = ("What is the {np}?", "Can you give me the {np}?", "Could I have the {np}, please?")

# --------------------------------------------------------------------------- goals


@dataclass
class DomainGoal:
    domain: str
    constraints: dict[str, str]  # bare slot -> value (may hold "dontcare")
    requests: list[str]  # bare slots the user asks for
    booking: dict[str, str]  # bookpeople / bookday / booktime / bookstay
    fail_booking: bool = False


def _quarter(rng: random.Random, first: int, last: int) -> str:
    return f"{rng.randint(first, last):02d}:{rng.choice((0, 15, 30, 45)):02d}"


def sample_goal(world: MultiWOZWorld, rng: random.Random, domain: str,
                carry: Mapping[str, str]) -> DomainGoal:  # fmt: skip
    """A goal whose constraints some DB record satisfies (optionally with carried values)."""
    table = world.tables[domain]
    if domain == "train":
        candidates = world.query(domain, carry) if carry else table
        target = rng.choice(candidates or table)
        constraints = {"departure": target["departure"], "destination": target["destination"],
                       "day": target["day"]}  # fmt: skip
        minutes = int(target["leaveAt"][:2]) * 60 + int(target["leaveAt"][3:])
        if rng.random() < 0.55:
            minutes -= rng.choice((0, 5, 10, 15, 20, 30, 45))
            constraints["leaveat"] = f"{minutes // 60:02d}:{minutes % 60:02d}"
        else:
            arrive = int(target["arriveBy"][:2]) * 60 + int(target["arriveBy"][3:])
            arrive += rng.choice((0, 5, 10, 15, 20, 30))
            constraints["arriveby"] = f"{min(arrive, 23 * 60 + 59) // 60:02d}:{min(arrive, 23 * 60 + 59) % 60:02d}"
        requests = [s for s in ("price", "duration", "trainid") if rng.random() < 0.3]
        booking = {"bookpeople": str(rng.randint(1, 6))} if rng.random() < 0.6 else {}
        return DomainGoal(domain, constraints, requests, booking)
    target = rng.choice(table)
    if rng.random() < (0.25 if domain == "attraction" else 0.15):
        constraints = {"name": target["name"]}
    else:
        keys = {"restaurant": ("food", "pricerange", "area"),
                "hotel": ("type", "pricerange", "area", "stars", "parking", "internet"),
                "attraction": ("type", "area")}[domain]  # fmt: skip
        chosen = rng.sample(keys, rng.randint(1, min(3, len(keys))))
        constraints = {k: target[k] for k in chosen}
        unused = [k for k in keys if k not in constraints and k != "food"]
        if unused and rng.random() < 0.2:  # asked about it, the user does not mind
            constraints[rng.choice(unused)] = DONTCARE
        if domain == "restaurant" and "food" not in constraints and rng.random() < 0.7:
            constraints["food"] = target["food"]
        for key, value in carry.items():  # "in the same area as the museum"
            if key in keys:
                constraints[key] = value
        if not world.query(domain, {k: v for k, v in constraints.items() if v != DONTCARE}):
            constraints = {k: target[k] for k in chosen}
    requests = [s for s in ("phone", "address", "postcode") if rng.random() < 0.35]
    if domain == "attraction" and rng.random() < 0.4:
        requests.append("entrancefee")
    booking: dict[str, str] = {}
    if domain == "restaurant" and rng.random() < 0.6:
        booking = {"bookpeople": str(rng.randint(1, 8)), "bookday": rng.choice(DAYS),
                   "booktime": _quarter(rng, 11, 20)}  # fmt: skip
    elif domain == "hotel" and rng.random() < 0.6:
        booking = {"bookpeople": str(rng.randint(1, 6)), "bookday": rng.choice(DAYS),
                   "bookstay": str(rng.randint(1, 5))}  # fmt: skip
    return DomainGoal(domain, constraints, requests, booking, fail_booking=rng.random() < 0.12)


# --------------------------------------------------------------------------- turns


@dataclass
class MwzTurn:
    builder: UtteranceBuilder = field(default_factory=UtteranceBuilder)
    acts: dict[str, list[list[str]]] = field(default_factory=dict)
    # act key -> the domain its values belong to ("Booking-Book" -> "restaurant")
    act_domain: dict[str, str] = field(default_factory=dict)

    def act(self, key: str, slot: str = "none", value: str = "none", domain: str = "") -> None:
        pairs = self.acts.setdefault(key, [])
        if [slot, value] not in pairs:
            pairs.append([slot, value])
        if domain:
            self.act_domain[key] = domain

    def say(self, template: str, values: Mapping[str, tuple[str, str, str]] | None = None,
            domain: str = "") -> None:  # fmt: skip
        """Add a sentence; ``values``: placeholder -> (act key, act slot, value)."""
        mentions = {}
        for name, (key, slot, value) in (values or {}).items():
            mentions[name] = Mention(slot, value, annotate=True, service=key)
            self.act(key, slot, value, domain)
        self.builder.add(template, mentions)

    def span_info(self) -> list[list[Any]]:
        return [[s.service, s.slot, s.surface, s.start, s.end] for s in self.builder.spans]

    def frame_spans(self) -> dict[str, list[dict[str, Any]]]:
        """Spans of non-categorical schema slots, per domain, with their ``value``."""
        by_domain: dict[str, list[dict[str, Any]]] = {}
        for s in self.builder.spans:
            domain = self.act_domain.get(s.service) or s.service.split("-")[0].lower()
            name = f"{domain}-{s.slot}"
            if name in SCHEMA_SLOTS and name not in CATEGORICAL:
                by_domain.setdefault(domain, []).append(
                    {"exclusive_end": s.end, "slot": name, "start": s.start, "value": s.surface}
                )
        return by_domain


class MultiWOZDialogueSimulator:
    def __init__(self, world: MultiWOZWorld, rng: random.Random, dialogue_id: str):
        self.world = world
        self.rng = rng
        self.dialogue_id = dialogue_id
        self.turns: list[dict[str, Any]] = []
        self.acts: dict[str, dict[str, Any]] = {}
        self.state: dict[str, dict[str, str]] = {d: {} for d in DOMAINS}
        self.intent: dict[str, str] = {d: "NONE" for d in DOMAINS}
        self.services: list[str] = []
        self.booked: list[str] = []
        self.booked_per_system_turn: list[list[str]] = []
        self.references: set[str] = set()

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    # ------------------------------------------------------------------ commits

    def commit_user(self, turn: MwzTurn, requested: Sequence[str] = ()) -> None:
        spans = turn.frame_spans()
        frames = []
        for domain in DOMAINS:
            frames.append({
                "actions": [], "service": domain, "slots": spans.get(domain, []),
                "state": {
                    "active_intent": self.intent[domain],
                    "requested_slots": sorted(f"{domain}-{s}" for s in requested
                                              if domain == self.services[-1]),
                    "slot_values": {f"{domain}-{k}": [v] for k, v in sorted(self.state[domain].items())},
                },
            })  # fmt: skip
        self._append("USER", turn, frames)

    def commit_system(self, turn: MwzTurn) -> None:
        spans = turn.frame_spans()
        frames = [{"actions": [], "service": d, "slots": spans[d]} for d in DOMAINS if d in spans]
        self._append("SYSTEM", turn, frames)
        self.booked_per_system_turn.append(list(self.booked))

    def _append(self, speaker: str, turn: MwzTurn, frames: list[dict[str, Any]]) -> None:
        turn_id = str(len(self.turns))
        self.turns.append({"frames": frames, "speaker": speaker, "turn_id": turn_id,
                           "utterance": turn.builder.text})  # fmt: skip
        self.acts[turn_id] = {"dialog_act": turn.acts, "span_info": turn.span_info()}

    # ------------------------------------------------------------------ helpers

    def user_tell(self, turn: MwzTurn, domain: str, slot: str, value: str) -> None:
        key = f"{domain.capitalize()}-Inform"
        lang = LANGUAGE[domain]
        if value == DONTCARE:
            turn.builder.add(self.choice(USER_DONTCARE).replace("{label}", LABELS.get(slot, slot)))
            turn.act(key, slot, DONTCARE)
        else:
            options = lang.tell[slot]
            if isinstance(options, Mapping):  # yes / no slots: one phrasing per value
                turn.builder.add(self.choice(options[value]))
                turn.act(key, slot, value)
            else:
                turn.say(self.choice(options), {"v": (key, slot, self.user_display(domain, slot, value))})
        self.state[domain][slot] = value

    @staticmethod
    def user_display(domain: str, slot: str, value: str) -> str:
        """The words for a categorical value (act values and spans use them, as in 2.2)."""
        return USER_DISPLAY.get(slot, {}).get(value, value) if domain == "attraction" else value

    @staticmethod
    def system_display(domain: str, slot: str, value: str) -> str:
        return SYSTEM_DISPLAY.get(slot, {}).get(value, value) if domain == "attraction" else value

    def reference(self) -> str:
        while True:
            ref = "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
            if ref not in self.references:
                self.references.add(ref)
                return ref

    # ------------------------------------------------------------------ the dialogue

    def run(self, plan: Sequence[tuple[str, DomainGoal]]) -> dict[str, Any]:
        for index, (domain, goal) in enumerate(plan):
            self.domain_phase(domain, goal, first=index == 0)
        last = plan[-1][0]
        turn = MwzTurn()
        turn.builder.add(self.choice(USER_BYE))
        turn.act("general-bye")
        self.intent[last] = "NONE"
        self.commit_user(turn)
        reply = MwzTurn()
        reply.builder.add(self.choice(SYSTEM_BYE))
        reply.act("general-bye")
        self.commit_system(reply)
        return {"dialogue_id": self.dialogue_id, "services": list(self.services), "turns": self.turns}

    def domain_phase(self, domain: str, goal: DomainGoal, first: bool) -> None:
        lang = LANGUAGE[domain]
        key = f"{domain.capitalize()}-Inform"
        if self.services:
            self.intent[self.services[-1]] = "NONE"
        self.services.append(domain)
        self.intent[domain] = f"find_{domain}"
        pending = list(goal.constraints)
        self.rng.shuffle(pending)
        if "name" in goal.constraints:
            pending.remove("name")
            pending.insert(0, "name")
        # ---- opening turn: intro (maybe embedding constraints) + clauses
        turn = MwzTurn()
        if not first and self.rng.random() < 0.5:
            turn.builder.add(self.choice(("I also need some help with something else.",
                                          "I have one more request.")))  # fmt: skip
        said = self._opening(turn, domain, goal, pending)
        pending = [p for p in pending if p not in said]
        for slot in pending[: self.choice((0, 1, 1, 2))]:
            if goal.constraints[slot] != DONTCARE:
                self.user_tell(turn, domain, slot, goal.constraints[slot])
        pending = [p for p in pending if p not in self.state[domain]]
        if not turn.acts:
            turn.act(key)
        self.commit_user(turn)
        # ---- the agent asks for what is missing
        while pending:
            asked = pending[: self.choice((1, 1, 2))]
            reply = MwzTurn()
            if self.state[domain] and self.rng.random() < 0.5:
                matches = self.world.query(domain, self._constraints(domain))
                reply.say(f"There are {{n}} {lang.plural} that match.",
                          {"n": (key, "choice", str(len(matches)))})
            for slot in asked:
                reply.builder.add(self.choice(lang.ask[slot]))
                reply.act(f"{domain.capitalize()}-Request", slot, "?")
            self.commit_system(reply)
            turn = MwzTurn()
            for slot in asked:
                self.user_tell(turn, domain, slot, goal.constraints[slot])
            self.commit_user(turn)
            pending = [p for p in pending if p not in asked]
        # ---- the offer
        offered = self._offer(domain, goal)
        # ---- questions about it
        self._answer_requests(domain, goal, offered)
        # ---- booking
        if goal.booking:
            self._book(domain, goal, offered)
        elif not first or self.rng.random() < 0.5:
            turn = MwzTurn()
            turn.builder.add(self.choice(USER_THANKS))
            turn.act("general-thank")
            self.commit_user(turn)
            reply = MwzTurn()
            reply.builder.add(self.choice(SYSTEM_REQMORE))
            reply.act("general-reqmore")
            self.commit_system(reply)

    def _opening(self, turn: MwzTurn, domain: str, goal: DomainGoal, pending: list[str]) -> set[str]:
        lang = LANGUAGE[domain]
        key = f"{domain.capitalize()}-Inform"
        if "name" in goal.constraints:
            turn.builder.add(self.choice(lang.intro))
            self.user_tell(turn, domain, "name", goal.constraints["name"])
            return {"name"}
        usable = {k: v for k, v in goal.constraints.items() if v != DONTCARE}
        fitting = [t for t in lang.combos if set(placeholders(t)) <= set(usable)]
        if fitting and self.rng.random() < 0.6:
            template = self.choice(fitting)
            names = placeholders(template)
            turn.say(template, {n: (key, n, self.user_display(domain, n, usable[n])) for n in names})
            for n in names:
                self.state[domain][n] = usable[n]
            return set(names)
        turn.builder.add(self.choice(lang.intro))
        return set()

    def _constraints(self, domain: str) -> dict[str, str]:
        return {k: v for k, v in self.state[domain].items() if not k.startswith("book")}

    def _offer(self, domain: str, goal: DomainGoal) -> Record:
        lang = LANGUAGE[domain]
        key = f"{domain.capitalize()}-Inform"
        matches = self.world.query(domain, self._constraints(domain))
        assert matches, (self.dialogue_id, domain, self.state[domain])
        reply = MwzTurn()
        if domain == "train":
            if "arriveby" in self.state[domain]:
                record = max(matches, key=lambda r: r["arriveBy"])
            else:
                record = min(matches, key=lambda r: r["leaveAt"])
            offer = "Train-OfferBook"
            if len(matches) > 1 and self.rng.random() < 0.6:
                reply.say("There are {n} trains that fit.", {"n": ("Train-Inform", "choice", str(len(matches)))})
            template = self.choice((
                "{trainid} leaves at {leaveat} and arrives at {arriveby}. Shall I book it?",
                "I have {trainid}, departing at {leaveat} and arriving by {arriveby}. Would you like a ticket?",
            ))  # fmt: skip
            reply.say(template, {
                "trainid": (offer, "trainid", record["trainID"]),
                "leaveat": (offer, "leaveat", record["leaveAt"]),
                "arriveby": (offer, "arriveby", record["arriveBy"]),
            }, domain)  # fmt: skip
            self.commit_system(reply)
            return record
        record = matches[0]
        named = "name" in goal.constraints
        act = key if named else f"{domain.capitalize()}-Recommend"
        if not named and len(matches) > 1 and self.rng.random() < 0.5:
            reply.say(f"I found {{n}} {lang.plural}.", {"n": (key, "choice", str(len(matches)))})
        template = self.choice(lang.offer)
        values = {n: (act, n, self.system_display(domain, n, str(record[n]))) for n in placeholders(template)}
        reply.say(template, values, domain)
        self.commit_system(reply)
        return record

    def _answer_requests(self, domain: str, goal: DomainGoal, record: Record) -> None:
        lang = LANGUAGE[domain]
        requests = list(goal.requests)
        while requests:
            asked = requests[: self.choice((1, 2))]
            requests = requests[len(asked) :]
            turn = MwzTurn()
            phrases = [self.choice(lang.request[s]) for s in asked]
            turn.builder.add(self.choice(REQUEST_FRAMES).replace("{np}", " and ".join(phrases)))
            for slot in asked:
                turn.act(f"{domain.capitalize()}-Request", slot, "?")
            self.commit_user(turn, requested=asked)
            reply = MwzTurn()
            for slot in asked:
                field_name = {"entrancefee": "entrance fee", "trainid": "trainID"}.get(slot, slot)
                reply.say(self.choice(lang.answer[slot]),
                          {"v": (f"{domain.capitalize()}-Inform", slot, str(record[field_name]))},
                          domain)  # fmt: skip
            self.commit_system(reply)

    def _book(self, domain: str, goal: DomainGoal, record: Record) -> None:
        key = f"{domain.capitalize()}-Inform"
        self.intent[domain] = f"book_{domain}"
        if domain != "train":
            self.state[domain]["name"] = record["name"]  # the user takes the offer
        wanted = dict(goal.booking)
        turn = MwzTurn()
        given = list(wanted)
        if len(given) > 1 and self.rng.random() < 0.4:
            given = given[: len(given) - 1]  # one is left for the agent to ask
        self._say_booking(turn, domain, {k: wanted[k] for k in given})
        self.commit_user(turn)
        missing = [k for k in wanted if k not in given]
        for slot in missing:
            reply = MwzTurn()
            reply.builder.add(self.choice(BOOKING_QUESTIONS[slot]))
            reply.act("Booking-Request" if domain != "train" else "Train-Request", slot, "?", domain)
            self.commit_system(reply)
            turn = MwzTurn()
            options = BOOKING_SHORT[slot]
            if slot == "bookpeople" and wanted[slot] == "1":
                options = ("Just {bookpeople} person.",)
            turn.say(self.choice(options), {slot: (key, slot, wanted[slot])}, domain)
            self.state[domain][slot] = wanted[slot]
            self.commit_user(turn)
        if goal.fail_booking and domain != "train":
            slot = "booktime" if "booktime" in wanted else "bookday"
            reply = MwzTurn()
            reply.say("I'm sorry, they are fully booked for that {label}.".replace(
                "{label}", "time" if slot == "booktime" else "day"), domain=domain)
            reply.act("Booking-NoBook", slot, wanted[slot], domain)
            reply.builder.add("Would you like to try another one?")
            reply.act("Booking-Request", slot, "?", domain)
            self.commit_system(reply)
            new = _quarter(self.rng, 11, 20) if slot == "booktime" else self.choice(
                [d for d in DAYS if d != wanted[slot]])
            goal.booking[slot] = new
            turn = MwzTurn()
            turn.say(self.choice(("How about {v}?", "Let's try {v} then.")), {"v": (key, slot, new)}, domain)
            self.state[domain][slot] = new
            self.commit_user(turn)
        ref = self.reference()
        reply = MwzTurn()
        if domain == "train":
            template = self.choice((
                "I booked {people} tickets on {trainid}. The total fee is {price}, and your "
                "reference number is {ref}.",
                "Your booking on {trainid} is complete. Reference number: {ref}. It costs {price}.",
            ))
            values = {
                "people": ("Train-OfferBooked", "bookpeople", goal.booking["bookpeople"]),
                "trainid": ("Train-OfferBooked", "trainid", record["trainID"]),
                "price": ("Train-OfferBooked", "price", record["price"]),
                "ref": ("Train-OfferBooked", "ref", ref),
            }
            reply.say(template, {n: values[n] for n in placeholders(template)}, domain)
        else:
            template = self.choice((
                "Booking was successful. Your reference number is {ref}.",
                "I have booked {name} for you. The reference number is {ref}.",
                "Your reservation at {name} is confirmed, reference number {ref}.",
            ))  # fmt: skip
            values = {"ref": ("Booking-Book", "ref", ref), "name": ("Booking-Book", "name", record["name"])}
            reply.say(template, {n: values[n] for n in placeholders(template)}, domain)
        reply.builder.add(self.choice(SYSTEM_REQMORE))
        reply.act("general-reqmore")
        self.booked.append(domain)
        self.commit_system(reply)

    def _say_booking(self, turn: MwzTurn, domain: str, values: Mapping[str, str]) -> None:
        key = f"{domain.capitalize()}-Inform"
        parts = {k: BOOKING_PHRASES[k] for k in values}
        if values.get("bookpeople") == "1":
            parts["bookpeople"] = ("for {bookpeople} person", "just for me")
        names = list(parts)
        template = self.choice(BOOKING_OPENERS[domain]) + " " + " ".join(
            self.choice(parts[n]) for n in names
        ) + "."  # fmt: skip
        turn.say(template, {n: (key, n, values[n]) for n in names}, domain)
        for name, value in values.items():
            self.state[domain][name] = value


BOOKING_OPENERS = {
    "restaurant": ("Please book a table", "Can you reserve a table", "I'd like a table"),
    "hotel": ("Please book it", "Can you book a room", "I'd like to book it"),
    "train": ("Please book it", "Can you book tickets", "I'd like to book seats"),
}
BOOKING_PHRASES = {
    "bookpeople": ("for {bookpeople} people",),
    "bookday": ("on {bookday}",),
    "booktime": ("at {booktime}",),
    "bookstay": ("for {bookstay} nights",),
}
BOOKING_SHORT = {
    "bookpeople": ("For {bookpeople} people, please.", "There will be {bookpeople} of us."),
    "bookday": ("On {bookday}, please.", "Make it {bookday}."),
    "booktime": ("At {booktime}, please.", "Let's say {booktime}."),
    "bookstay": ("For {bookstay} nights.", "I'll stay {bookstay} nights."),
}
BOOKING_QUESTIONS = {
    "bookpeople": ("How many people is it for?",),
    "bookday": ("What day would you like?",),
    "booktime": ("What time would you like the table?",),
    "bookstay": ("How many nights will you stay?",),
}


# --------------------------------------------------------------------------- the corpus

SINGLE_DOMAIN = ("restaurant", "hotel", "attraction", "train")
MULTI_DOMAIN = (
    ("attraction", "restaurant"), ("restaurant", "hotel"), ("hotel", "train"),
    ("train", "attraction"), ("restaurant", "train"), ("attraction", "hotel"),
    ("hotel", "restaurant"), ("attraction", "restaurant", "train"),
    ("hotel", "attraction", "train"),
)  # fmt: skip
MULTI_DOMAIN_SHARE = 0.6


def sample_plan(world: MultiWOZWorld, rng: random.Random) -> list[tuple[str, DomainGoal]]:
    """Domains in order with their goals; later goals may reuse an earlier area or day."""
    if rng.random() < MULTI_DOMAIN_SHARE:
        domains = MULTI_DOMAIN[rng.randrange(len(MULTI_DOMAIN))]
    else:
        domains = (SINGLE_DOMAIN[rng.randrange(len(SINGLE_DOMAIN))],)
    plan: list[tuple[str, DomainGoal]] = []
    for domain in domains:
        carry: dict[str, str] = {}
        for _prev, goal in plan:
            if domain == "restaurant" and "area" in goal.constraints and rng.random() < 0.5:
                carry["area"] = goal.constraints["area"]  # "in the same area"
            if domain == "train" and "bookday" in goal.booking:
                carry["day"] = goal.booking["bookday"]  # "on the same day"
        carry = {k: v for k, v in carry.items() if v != DONTCARE}
        plan.append((domain, sample_goal(world, rng, domain, carry)))
    return plan


def mwzeval_goal(domain: str, goal: DomainGoal, booked: bool) -> dict[str, Any]:
    informable = {
        MWZEVAL_SLOT.get(k, k): v for k, v in goal.constraints.items() if v != DONTCARE
    }
    requestable = [REQUEST_TOKENS[s] for s in goal.requests if s in REQUEST_TOKENS]
    if booked:
        requestable.append("REFERENCE")
    booking = {BOOKING_KEYS[k]: v for k, v in goal.booking.items()} if booked else {}
    return {"informable": informable, "requestable": requestable, "booking": booking}


def build_multiwoz_corpus(directory: Path, params: CorpusParams) -> None:
    """Generate the MultiWOZ-layout toy corpus (every split, DBs, acts, goals) into ``directory``."""
    world = MultiWOZWorld(params.corpus_seed)
    for domain, records in world.tables.items():
        write_json(directory / "db" / f"{domain}_db.json", records)
    write_json(directory / "schema.json", SCHEMA)
    dialog_acts: dict[str, Any] = {}
    goals: dict[str, Any] = {}
    booked_domains: dict[str, Any] = {}
    number = 0
    for split, count in params.sizes.items():
        dialogues = []
        for index in range(count):
            number += 1
            rng = random.Random(f"toy-multiwoz:{params.corpus_seed}:{split}:{index}")
            plan = sample_plan(world, rng)
            prefix = "SNG" if len(plan) == 1 else "MUL"
            dialogue_id = f"{prefix}{number:05d}.json"
            simulator = MultiWOZDialogueSimulator(world, rng, dialogue_id)
            dialogues.append(simulator.run(plan))
            key = dialogue_id.removesuffix(".json").lower()
            dialog_acts[dialogue_id] = simulator.acts
            goals[key] = {d: mwzeval_goal(d, g, d in simulator.booked) for d, g in plan}
            booked_domains[key] = simulator.booked_per_system_turn
        for start in range(0, count, DIALOGUES_PER_FILE):
            chunk = dialogues[start : start + DIALOGUES_PER_FILE]
            write_json(directory / split / f"dialogues_{start // DIALOGUES_PER_FILE + 1:03d}.json", chunk)
    write_json(directory / "dialog_acts.json", dialog_acts)
    write_json(directory / "goals.json", goals)
    write_json(directory / "booked_domains.json", booked_domains)
