"""The TRADE-style value cleaning of the Spec-TOD / FnCTOD MultiWOZ DST evaluation.

FnCTOD's ``compute_jacc`` (which Spec-TOD reuses) compares belief states as sets of
``[domain]->slot->value`` triples after the MultiWOZ "default cleaning" inherited from
TRADE: typo tables, slot-specific value fixes, venue-name spellings and times. These rules
decide which predictions count as right, so they are reproduced here rule for rule —
including the odd ones (any value starting with "the" loses its first four characters, the
typo table is applied to predictions only), because both sides of the comparison go
through them. The pipeline per turn (:func:`clean_triples`):

1. drop triples mentioning ``not mentioned`` / ``none`` / ``not present``;
2. typo table, then :func:`fix_mismatch`, then :data:`NAME_AND_TIME_FIXES`;
3. drop ``none`` triples again (values the fixes turned into ``none``);
4. with ``ignore_dontcare``: drop ``dontcare`` / ``dont care`` / ``do not care`` (predictions).

One deliberate difference: FnCTOD applies the typo table to predictions only, because its
targets were already normalised by UBAR's preprocessing (which maps the same spellings,
e.g. ``guesthouse`` -> ``guest house``). tod_lab's targets are the MultiWOZ 2.2 values, so
the table is applied to both sides — otherwise a prediction equal to the reference could
be scored wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Spelling variants -> the spelling the targets use (see the module docstring).
GENERAL_TYPO = {
    "guesthouse": "guest house", "guesthouses": "guest house", "guest": "guest house",
    "mutiple sports": "multiple sports", "sports": "multiple sports",
    "mutliple sports": "multiple sports", "swimmingpool": "swimming pool",
    "concerthall": "concert hall", "concert": "concert hall", "pool": "swimming pool",
    "night club": "nightclub", "mus": "museum", "ol": "architecture", "colleges": "college",
    "coll": "college", "architectural": "architecture", "musuem": "museum",
    "churches": "church",
    "center": "centre", "center of town": "centre", "near city center": "centre",
    "in the north": "north", "cen": "centre", "east side": "east", "east area": "east",
    "west part of town": "west", "ce": "centre", "town center": "centre",
    "centre of cambridge": "centre", "city center": "centre", "the south": "south",
    "scentre": "centre", "town centre": "centre", "in town": "centre",
    "north part of town": "north", "centre of town": "centre", "cb30aq": "none",
    "mode": "moderate", "moderate -ly": "moderate", "mo": "moderate",
    "next friday": "friday", "monda": "monday",
    "free parking": "free", "free internet": "yes",
    "4 star": "4", "4 stars": "4", "0 star rarting": "none",
    "y": "yes", "any": "dontcare", "n": "no", "does not care": "dontcare", "not men": "none",
    "not": "none", "not mentioned": "none", "not present": "none", "": "none",
    "not mendtioned": "none", "3 .": "3", "does not": "no", "fun": "none", "art": "none",
}

_TYPE_TO_NONE = frozenset({
    "nigh", "moderate -ly priced", "bed and breakfast", "centre", "venetian", "intern",
    "a cheap -er hotel", "gastropub", "la raza", "galleria", "gallery", "science", "m",
})
_TYPE_TO_HOTEL = frozenset({"hotel with free parking and free wifi", "4", "3 star hotel"})
_AREA_FIXES = {"no": "north", "we": "west", "cent": "centre"}
_DAY_FIXES = {"we": "wednesday", "no": "none"}
_NOT_AN_AREA = frozenset({
    "stansted airport", "cambridge", "silver street", "norwich", "ely", "museum",
    "same area as hotel",
})
_POSSESSIVE_SPACE = re.compile(r"(\w+)\s('s\s\w+)")

# Venue spellings, abbreviations, possessives and compact times (value -> fixed value).
NAME_AND_TIME_FIXES = {
    "cafe uno": "caffe uno",
    "alpha milton guest house": "alpha-milton guest house",
    "churchills college": "churchill college", "churchhill college": "churchill college",
    "churchill": "churchill college", "the churchill college": "churchill college",
    "portugese": "portuguese",
    "restaurant 17": "restaurant one seven", "restaurant 2 two": "restaurant two two",
    "gallery at 12 a high street": "gallery at twelve a high street",
    "museum of archaelogy": "museum of archaelogy and anthropology",
    "huntingdon marriot hotel": "huntingdon marriott hotel",
    "marriot hotel": "huntingdon marriott hotel",
    "sheeps green and lammas land park fen causeway":
        "sheep's green and lammas land park fen causeway",
    "sheeps green and lammas land park": "sheep's green and lammas land park fen causeway",
    "cambridge and country folk museum": "cambridge and county folk museum",
    "county folk museum": "cambridge and county folk museum",
    "ambridge": "cambridge",
    "cambridge contemporary art museum": "cambridge contemporary art",
    "molecular gastonomy": "molecular gastronomy",
    "2 two and cote": "two two and cote",
    "caribbeanindian": "caribbean|indian",
    "whipple museum": "whipple museum of the history of science",
    "ian hong": "ian hong house",
    "sundaymonday": "sunday|monday", "mondaythursday": "monday|thursday",
    "fridaytuesday": "friday|tuesday", "cheapmoderate": "cheap|moderate",
    "golden house                            golden house": "the golden house",
    "golden house": "the golden house",
    "sleeperz": "sleeperz hotel",
    "jamaicanchinese": "jamaican|chinese",
    "shiraz": "shiraz restaurant",
    "museum of archaelogy and anthropogy": "museum of archaelogy and anthropology",
    "yipee noodle bar": "yippee noodle bar",
    "abc theatre": "adc theatre",
    "wankworth house": "warkworth house",
    "cherry hinton water play park": "cherry hinton water play",
    "cherry hinton water park": "cherry hinton water play",
    "the gallery at 12": "the gallery at twelve",
    "barbequemodern european": "barbeque|modern european",
    "north americanindian": "north american|indian",
    "chiquito": "chiquito restaurant bar",
    "museum of archaeology and anthropology": "museum of archaelogy and anthropology",
    "saint catherine's college": "saint catharine's college",
    "city centre north bed and breakfast": "city centre north b and b",
    "north bed and breakfast": "north b and b",
    "christ college": "christ's college",
    "kings college": "king's college",
    "saint johns college": "saint john's college",
    "kettles yard": "kettle's yard",
    "rosas bed and breakfast": "rosa's bed and breakfast",
    "saint catharines college": "saint catharine's college",
    "little saint marys church": "little saint mary's church",
    "great saint marys church": "great saint mary's church",
    "queens college": "queen's college", "queens' college": "queen's college",
    "peoples portraits exhibition at girton college":
        "people's portraits exhibition at girton college",
    "st johns college": "saint john's college",
    "whale of time": "whale of a time",
    "st catharines college": "saint catharine's college",
    "saint john 's college": "saint john's college",
    "saint johns colleg": "saint john's college",
    "pizza hut fen ditton": "pizza hut fenditton", "pizza hit fen ditton": "pizza hut fenditton",
    "the copper kettle": "copper kettle",
    "the dojo noodle bar": "dojo noodle bar",
    "16,15": "16:15", "1330": "13:30", "1430": "14:30", "1532": "15:32", "845": "08:45",
    "1145": "11:45", "1545": "15:45", "1329": "13:29", "1345": "13:45", "1715": "17:15",
    "929": "09:29",
}

NONE_MARKERS = ("not mentioned", "none", "not present")
DONTCARE_MARKERS = ("dontcare", "dont care", "do not care")


def fix_mismatch(slot: str, value: str) -> str:
    """Slot-specific fixes of values annotated under the wrong slot or misspelt."""
    if (
        (slot == "type" and value in _TYPE_TO_NONE)
        or (slot == "internet" and value == "4")
        or (slot == "pricerange" and value == "2")
        or ("area" in slot and value == "moderate")
        or ("day" in slot and value == "t")
    ):
        value = "none"
    elif slot == "type" and value in _TYPE_TO_HOTEL:
        value = "hotel"
    elif slot == "star" and value == "3 star hotel":
        value = "3"
    elif "area" in slot:
        value = _AREA_FIXES.get(value, value)
    elif "day" in slot:
        value = _DAY_FIXES.get(value, value)
    elif "price" in slot and value == "ch":
        value = "cheap"
    elif ("internet" in slot or "parking" in slot) and value == "free":
        value = "yes"
    elif value.startswith("the"):
        value = value[4:]
    elif "[value_" in value:
        value = "none"
    value = _POSSESSIVE_SPACE.sub(r"\1\2", value)
    if slot == "area" and value in _NOT_AN_AREA:
        value = "none"
    return value


def clean_value(slot: str, value: str) -> str:
    value = GENERAL_TYPO.get(value, value)
    value = fix_mismatch(slot, value)
    return NAME_AND_TIME_FIXES.get(value, value)


Triple = tuple[str, str, str]  # (domain, slot, value)


def _mentions(triple: Triple, markers: Iterable[str]) -> bool:
    text = "->".join(triple)
    return any(marker in text for marker in markers)


def clean_triples(triples: Iterable[Triple], *, ignore_dontcare: bool = False) -> set[Triple]:
    """One side of a turn, cleaned as FnCTOD's ``compute_jacc`` does (module docstring)."""
    kept = [t for t in triples if not _mentions(t, NONE_MARKERS)]
    cleaned = [(d, s, clean_value(s, v)) for d, s, v in kept]
    cleaned = [t for t in cleaned if not _mentions(t, NONE_MARKERS)]
    if ignore_dontcare:
        cleaned = [t for t in cleaned if not _mentions(t, DONTCARE_MARKERS)]
    return set(cleaned)


__all__ = [
    "GENERAL_TYPO",
    "NAME_AND_TIME_FIXES",
    "clean_triples",
    "clean_value",
    "fix_mismatch",
]
