"""mwzeval's normalisation of MultiWOZ responses and dialogue states.

The MultiWOZ end-to-end numbers everyone compares with come out of mwzeval
(Tomiinek/MultiWOZ_Evaluation); its normalisation decides what counts as an offered venue
or a provided phone number, so tod_lab reproduces it rule for rule:

- responses: lower-cased; every ``[slot]`` placeholder (optionally followed by a plural
  ``s`` / ``es`` / ``-s`` / ``-es``) becomes a canonical upper-case token (``[restaurant_name]``
  and ``[value_name]`` -> ``NAME``, ``[value_reference]`` -> ``REFERENCE``, ...; unknown
  placeholders vanish); ``-s`` and ``-ly`` are removed; Moses tokenise + detokenise;
- state slots: lower-cased, spaces removed, ``arriveby`` -> ``arrive``, ``leaveat`` -> ``leave``;
- state values: venue names / places mapped to the database spelling, food and type
  synonyms, times parsed to ``HH:MM``, ``free`` parking / internet -> ``yes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# canonical token -> every placeholder name that maps to it (mwzeval's unified ontology)
SLOT_TOKENS: dict[str, tuple[str, ...]] = {
    "ADDRESS": ("address", "attraction_address", "hospital_address", "hotel_address",
                "police_address", "restaurant_address", "value_address"),
    "AREA": ("area", "value_area", "attraction_area", "restaurant_area", "hotel_area"),
    "TIME": ("booktime", "value_time", "time", "duration", "value_duration", "train_duration",
             "arriveby", "taxi_arriveby", "value_arrive", "arrive by", "train_arriveby",
             "leaveat", "value_leave", "leave at", "train_leaveat", "train_leave",
             "train_arrive", "taxi_leaveat"),
    "DAY": ("day", "value_day", "bookday", "train_day"),
    "PLACE": ("destination", "value_destination", "departure", "value_departure", "value_place",
              "train_departure", "train_destination", "taxi_destination", "taxi_departure"),
    "FOOD": ("food", "value_food", "restaurant_food"),
    "NAME": ("name", "attraction_name", "hospital_name", "hotel_name", "police_name",
             "restaurant_name", "value_name"),
    "PHONE": ("phone", "attraction_phone", "hospital_phone", "hotel_phone", "police_phone",
              "restaurant_phone", "taxi_phone", "value_phone"),
    "POST": ("postcode", "attraction_postcode", "hospital_postcode", "hotel_postcode",
             "restaurant_postcode", "value_postcode", "police_postcode"),
    "PRICE": ("price", "value_price", "entrancefee", "entrance fee", "train_price",
              "attraction_entrancefee", "pricerange", "value_pricerange", "price range",
              "restaurant_pricerange", "hotel_pricerange", "attraction_pricerange",
              "attraction_price"),
    "REFERENCE": ("ref", "attraction_reference", "hotel_reference", "restaurant_reference",
                  "train_reference", "value_reference", "reference"),
    "COUNT": ("stars", "value_stars", "hotel_stars", "bookstay", "value_stay", "stay",
              "bookpeople", "value_people", "people", "choice", "value_choice", "value_count",
              "attraction_choice", "hotel_choice", "restaurant_choice", "train_choice"),
    "TYPE": ("type", "taxi_type", "taxi_car", "value_type", "value_car", "car",
             "restaurant_type", "hotel_type", "attraction_type"),
    "TRAINID": ("trainid", "train_id", "value_id", "id", "train", "train_trainid"),
    "INTERNET": ("internet", "hotel_internet"),
    "PARKING": ("parking", "hotel_parking"),
    "ID": ("hospital_id", "attraction_id", "restaurant_id"),
    "DEPARTMENT": ("value_department", "department", "hospital_department"),
    "OPEN": ("openhours",),
}
_TOKEN_OF = {name: token for token, names in SLOT_TOKENS.items() for name in names}
_PLACEHOLDER = re.compile(r"\[([\w\s\d]+)\](es|s|-s|-es|)")

# Venue names as people write them -> the database spelling (mwzeval applies all three
# tables to every name-like slot, restaurant rules first).
_RESTAURANT_NAMES = {
    "hotel du vin bistro": "hotel du vin and bistro",
    "the river bar and grill": "the river bar steakhouse and grill",
    "nando's": "nandos",
    "city center b and b": "city center north b and b",
    "acorn house": "acorn guest house",
    "caffee uno": "caffe uno",
    "cafe uno": "caffe uno",
    "rosa's": "rosas bed and breakfast",
    "restaurant called two two": "restaurant two two",
    "restaurant 2 two": "restaurant two two",
    "restaurant two 2": "restaurant two two",
    "restaurant 2 2": "restaurant two two",
    "restaurant 1 7": "restaurant one seven",
    "restaurant 17": "restaurant one seven",
}
_HOTEL_NAMES = {
    "lime house": "limehouse",
    "cityrooms": "cityroomz",
    "whale of time": "whale of a time",
    "huntingdon hotel": "huntingdon marriott hotel",
    "holiday inn exlpress, cambridge": "express by holiday inn cambridge",
    "university hotel": "university arms hotel",
    "arbury guesthouse and lodge": "arbury lodge guesthouse",
    "bridge house": "bridge guest house",
    "arbury guesthouse": "arbury lodge guesthouse",
    "nandos in the city centre": "nandos city centre",
}
_ATTRACTION_NAMES = {
    "broughton gallery": "broughton house gallery",
    "scudamores punt co": "scudamores punting co",
    "cambridge botanic gardens": "cambridge university botanic gardens",
    "the junction": "junction theatre",
    "trinity street college": "trinity college",
    "christ college": "christ's college",
    "christs": "christ's college",
    "history of science museum": "whipple museum of the history of science",
    "parkside pools": "parkside swimming pool",
    "the botanical gardens at cambridge university": "cambridge university botanic gardens",
    "cafe jello museum": "cafe jello gallery",
}
_NAME_FIXES = {**_ATTRACTION_NAMES, **_HOTEL_NAMES, **_RESTAURANT_NAMES}  # restaurant wins
_TYPE_FIXES = {
    "swimming pool": "swimmingpool",
    "mutliple sports": "multiple sports",
    "night club": "nightclub",
    "guest house": "guesthouse",
}
_FOOD_FIXES = {
    "eriterean": "mediterranean",
    "brazilian": "portuguese",
    "sea food": "seafood",
    "portugese": "portuguese",
    "modern american": "north american",
    "americas": "north american",
    "intalian": "italian",
    "italain": "italian",
    "asian or oriental": "asian",
    "english": "british",
    "australasian": "australian",
    "gastropod": "gastropub",
    "brutish": "british",
    "bristish": "british",
    "europeon": "european",
}
# whole time phrases mwzeval knows, and prefixes it maps to a fixed time
_TIME_PHRASES = {
    "afternoon": "13:00",
    "lunch": "12:00",
    "noon": "12:00",
    "mid-day": "12:00",
    "around lunch time": "12:00",
    "morning": "08:00",
    "seven o'clock tomorrow evening": "07:00",
    "three forty five p.m": "15:45",
    "one thirty p.m.": "13:30",
    "six fourty five": "06:45",
    "eight thirty": "08:30",
}
_TIME_PREFIXES = (("one o'clock p.m", "13:00"), ("ten o'clock a.m", "10:00"))
TIME_SLOTS = frozenset({"arrive", "leave", "arriveby", "leaveat", "time"})


def slot_token(placeholder: str) -> str:
    """Canonical token of a ``[placeholder]`` name; ``""`` for names mwzeval does not know."""
    return _TOKEN_OF.get(placeholder.lower(), "")


@lru_cache(maxsize=1)
def _moses():
    from sacremoses import MosesDetokenizer, MosesTokenizer

    return MosesTokenizer(lang="en"), MosesDetokenizer(lang="en")


def normalize_response(response: str) -> str:
    """A delexicalised response as mwzeval compares it (see the module docstring)."""
    tokenizer, detokenizer = _moses()
    text = _PLACEHOLDER.sub(lambda m: slot_token(m.group(1)), response.lower())
    text = text.replace("-s", "").replace("-ly", "")
    return detokenizer.detokenize(tokenizer.tokenize(text))


def canonical_name(name: str) -> str:
    name = name.strip().lower().replace(" & ", " and ").replace("&", " and ").replace(" '", "'")
    return _NAME_FIXES.get(name, name)


def canonical_time(time: str) -> str:
    """mwzeval's ``time_to_canonical``: best effort ``HH:MM`` (``""`` becomes ``00:00``)."""
    time = time.strip().lower()
    if time in _TIME_PHRASES:
        return _TIME_PHRASES[time]
    for prefix, value in _TIME_PREFIXES:
        if time.startswith(prefix):
            return value
    if time.startswith("by"):
        time = time[3:]
    if time.startswith("after"):
        time = time[5:].strip()
    if time.startswith("afer"):
        time = time[4:].strip()
    if time.endswith("am"):
        time = time[:-2].strip()
    if time.endswith("a.m."):
        time = time[:-4].strip()
    if time.endswith("pm") or time.endswith("p.m."):
        if time.endswith("pm"):
            time = time[:-2].strip()
        if time.endswith("p.m."):
            time = time[:-4].strip()
        parts = time.split(":")
        if len(parts) == 2 and parts[0].strip().lstrip("+-").isdigit():
            return f"{int(parts[0]) + 12}:{parts[1]}"
        # (mwzeval raises ValueError on e.g. "half past 7:30 pm"; such values fall through)
        if len(parts) == 1 and parts[0].isdigit():
            return f"{int(parts[0]) + 12}:00"
    if not time:
        return "00:00"
    if time[-1] in ".,?":
        time = time[:-1]
    if time.isdigit() and len(time) == 4:
        return f"{time[:2]}:{time[2:]}"
    if time.isdigit():
        return time.zfill(2) + ":00"
    if ":" in time:
        time = time.replace(" ", "")
    if len(time) == 4 and time[1] == ":":
        hours, minutes = time.split(":")
        return f"{hours.zfill(2)}:{minutes}"
    return time


def normalize_state_value(slot: str, value: Any) -> Any:
    """mwzeval's ``normalize_state_slot_value`` for an already-normalised slot name."""
    if slot in ("name", "destination", "departure"):
        return canonical_name(value)
    if slot == "type":
        return _TYPE_FIXES.get(value, value)
    if slot == "food":
        food = value.strip().lower()
        return _FOOD_FIXES.get(food, food)
    if slot in TIME_SLOTS:
        return canonical_time(value)
    if slot in ("parking", "internet"):
        return "yes" if value == "free" else value
    return value


def normalize_slot_name(slot: str) -> str:
    slot = slot.lower().replace(" ", "")
    return {"arriveby": "arrive", "leaveat": "leave"}.get(slot, slot)


def normalize_state(state: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{domain: {slot: value}}`` with mwzeval's slot names and values."""
    out: dict[str, dict[str, Any]] = {}
    for domain, slots in state.items():
        normalized: dict[str, Any] = {}
        for slot, value in slots.items():
            name = normalize_slot_name(slot)
            normalized[name] = normalize_state_value(name, value)
        out[domain] = normalized
    return out


def time_to_minutes(time: str) -> int:
    """``HH:MM`` -> minutes since midnight; anything else counts as 0 (as in mwzeval)."""
    if not re.match(r"[0-9][0-9]:[0-9][0-9]", time):
        return 0
    hours, minutes = time.split(":")[:2]
    return int(hours) * 60 + int(minutes)


__all__ = [
    "SLOT_TOKENS",
    "canonical_name",
    "canonical_time",
    "normalize_response",
    "normalize_slot_name",
    "normalize_state",
    "normalize_state_value",
    "slot_token",
    "time_to_minutes",
]
