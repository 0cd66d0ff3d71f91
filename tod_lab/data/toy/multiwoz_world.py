"""The venue databases of the MultiWOZ-style toy corpus (``db/{domain}_db.json``).

Records follow the MultiWOZ DB field conventions exactly (restaurant: address, area, food,
id, introduction, location, name, phone, postcode, pricerange, type; hotel: ... internet,
parking, price{double,family,single}, stars, takesbookings, type; attraction: ... entrance
fee, openhours, pricerange, type; train: arriveBy, day, departure, destination, duration,
leaveAt, price, trainID), with values lower-cased as in MultiWOZ. The town is made up.

Venue names are drawn so that no two are fuzzy matches of each other (rapidfuzz
``partial_ratio`` < 90, the threshold at which mwzeval calls two names the same venue), so
an offered venue can never be confused with another one; foods and stations are likewise
pairwise below the threshold.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rapidfuzz import fuzz

Record = dict[str, Any]

AREAS = ("centre", "north", "south", "east", "west")
PRICERANGES = ("cheap", "moderate", "expensive")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FOODS = ("italian", "chinese", "indian", "british", "french", "thai", "spanish", "korean",
         "turkish", "mexican", "japanese", "lebanese")  # fmt: skip
ATTRACTION_TYPES = ("museum", "park", "theatre", "college", "nightclub", "cinema",
                    "architecture", "boat", "swimmingpool", "concerthall")  # fmt: skip
HOTEL_TYPES = ("hotel", "guesthouse")
HUB = "millbrook"
STATIONS = (HUB, "ashford", "brampton", "kingsbridge", "norwood", "eastfield", "riverton",
            "stokeley")  # fmt: skip
FUZZY_LIMIT = 90  # mwzeval: partial_ratio >= 90 is a match

_ADJ = ("golden", "silver", "royal", "little", "blue", "crimson", "hidden", "copper", "maple",
        "willow", "crown", "amber", "ivory", "juniper", "saffron", "harbour", "orchard",
        "lantern", "meadow", "falcon", "primrose", "hazel", "bramble", "sparrow", "thistle",
        "marigold", "oakwood", "riverside", "foxglove", "kestrel")  # fmt: skip
_RESTAURANT_NOUNS = ("kitchen", "table", "spoon", "bistro", "terrace", "oven", "plate",
                     "brasserie", "canteen", "grill", "eatery", "dining room")  # fmt: skip
_HOTEL_NOUNS = {"hotel": ("hotel", "manor", "suites", "grand hotel"),
                "guesthouse": ("guest house", "lodge", "bed and breakfast", "cottage")}  # fmt: skip
_ATTRACTION_NOUNS = {
    "museum": ("museum", "gallery"), "park": ("park", "gardens"), "theatre": ("theatre", "playhouse"),
    "college": ("college",), "nightclub": ("club", "nightclub"), "cinema": ("cinema", "picture house"),
    "architecture": ("church", "chapel", "abbey"), "boat": ("punting", "boat tours"),
    "swimmingpool": ("pool", "swimming pool"), "concerthall": ("concert hall", "music hall"),
}  # fmt: skip
_STREETS = ("mill road", "king street", "regent street", "station road", "bridge street",
            "high street", "church lane", "market square", "castle hill", "park terrace",
            "victoria avenue", "queens road", "green street", "hills road", "newmarket road")  # fmt: skip


def _distinct_name(rng: random.Random, used: list[str], make: Callable[[], str]) -> str:
    for _ in range(500):
        name = make()
        if all(fuzz.partial_ratio(name, other) < FUZZY_LIMIT for other in used):
            used.append(name)
            return name
    raise RuntimeError("toy MultiWOZ DB: no fuzzy-distinct venue name left")  # pragma: no cover


class MultiWOZWorld:
    """``tables[domain]``: the DB records, reproducible from ``seed``."""

    def __init__(self, seed: int):
        rng = random.Random(f"toy-multiwoz-world:{seed}")
        names: list[str] = []
        self.tables: dict[str, list[Record]] = {
            "restaurant": self._restaurants(rng, names),
            "hotel": self._hotels(rng, names),
            "attraction": self._attractions(rng, names),
            "train": self._trains(rng),
        }
        # trains by route and by each routing field: full scans of ~1,200 trains per query
        # would dominate generation time
        self._trains_by: dict[tuple[str, ...], list[Record]] = {}
        for record in self.tables["train"]:
            route = (record["departure"], record["destination"], record["day"])
            self._trains_by.setdefault(route, []).append(record)
            for name in ("departure", "destination", "day"):
                self._trains_by.setdefault((name, record[name]), []).append(record)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _contact(rng: random.Random) -> dict[str, Any]:
        return {
            "address": f"{rng.randint(1, 120)} {rng.choice(_STREETS)}",
            "location": [round(52.18 + rng.random() * 0.05, 6), round(0.10 + rng.random() * 0.07, 6)],
            "phone": f"01632{rng.randint(100000, 999999)}",
            "postcode": f"mb{rng.randint(1, 9)}{rng.randint(1, 9)}{rng.choice('abdefghjlnpqrstuwxyz')}"
            f"{rng.choice('abdefghjlnpqrstuwxyz')}",
        }

    def _restaurants(self, rng: random.Random, names: list[str]) -> list[Record]:
        records = []
        for food in FOODS:
            for _ in range(rng.randint(3, 5)):
                name = _distinct_name(rng, names, lambda: f"{rng.choice(_ADJ)} {rng.choice(_RESTAURANT_NOUNS)}")
                area, price = rng.choice(AREAS), rng.choice(PRICERANGES)
                records.append({
                    **self._contact(rng), "area": area, "food": food, "id": "",
                    "introduction": f"{name} serves {food} food in the {area} of town",
                    "name": name, "pricerange": price, "type": "restaurant",
                })  # fmt: skip
        return _numbered(records)

    def _hotels(self, rng: random.Random, names: list[str]) -> list[Record]:
        records = []
        for kind in HOTEL_TYPES:
            for _ in range(14):
                name = _distinct_name(rng, names, lambda k=kind: f"{rng.choice(_ADJ)} {rng.choice(_HOTEL_NOUNS[k])}")
                stars = rng.choice(("2", "3", "4", "4", "5") if kind == "hotel" else ("0", "2", "3", "4"))
                price = rng.choice(PRICERANGES)
                base = {"cheap": 45, "moderate": 75, "expensive": 120}[price]
                records.append({
                    **self._contact(rng), "area": rng.choice(AREAS),
                    "internet": rng.choice(("yes", "yes", "no")), "parking": rng.choice(("yes", "no")),
                    "id": "", "name": name,
                    "price": {"double": str(base + 20), "family": str(base + 45), "single": str(base)},
                    "pricerange": price, "stars": stars, "takesbookings": "yes", "type": kind,
                })  # fmt: skip
        return _numbered(records)

    def _attractions(self, rng: random.Random, names: list[str]) -> list[Record]:
        records = []
        for kind in ATTRACTION_TYPES:
            for _ in range(rng.randint(3, 5)):
                name = _distinct_name(
                    rng, names, lambda k=kind: f"{rng.choice(_ADJ)} {rng.choice(_ATTRACTION_NOUNS[k])}"
                )
                fee = "free" if rng.random() < 0.4 else f"{rng.randint(2, 9)}.{rng.choice(('00', '50'))} pounds"
                records.append({
                    **self._contact(rng), "area": rng.choice(AREAS), "entrance fee": fee, "id": "",
                    "name": name,
                    "openhours": f"it opens from {rng.randint(8, 11)}:00 a.m. to {rng.randint(4, 11)}:00 p.m.",
                    "pricerange": "free" if fee == "free" else rng.choice(("cheap", "moderate")),
                    "type": kind,
                })  # fmt: skip
        return _numbered(records)

    def _trains(self, rng: random.Random) -> list[Record]:
        records = []
        used_ids: set[str] = set()
        for other in STATIONS[1:]:
            duration = rng.randint(17, 105)
            fare = rng.randint(4, 38) + rng.choice((0.1, 0.4, 0.6, 0.8))
            first = rng.randint(5, 7) * 60 + rng.choice((0, 11, 17, 29, 35, 40))
            period = rng.choice((60, 90, 120))
            for day in DAYS:
                for origin, dest in ((HUB, other), (other, HUB)):
                    start = first + (7 if origin != HUB else 0)
                    while start + duration < 24 * 60:
                        train_id = f"TR{rng.randint(1000, 9999)}"
                        while train_id in used_ids:
                            train_id = f"TR{rng.randint(1000, 9999)}"
                        used_ids.add(train_id)
                        records.append({
                            "arriveBy": _clock(start + duration), "day": day, "departure": origin,
                            "destination": dest, "duration": f"{duration} minutes",
                            "leaveAt": _clock(start), "price": f"{fare:.2f} pounds", "trainID": train_id,
                        })  # fmt: skip
                        start += period
        return records

    # ------------------------------------------------------------------ queries

    def query(self, domain: str, constraints: Mapping[str, str]) -> list[Record]:
        """Records matching semantic constraints (bare slot names, state values).

        ``leaveat``: leaves at or after; ``arriveby``: arrives at or before; ``dontcare`` and
        booking slots are ignored; everything else is an exact match (the mwzeval / UBAR
        semantics a consumer will apply).
        """
        exact: dict[str, str] = {}
        leave = arrive = None
        for slot, value in constraints.items():
            if value == "dontcare" or slot.startswith("book"):
                continue
            if slot == "leaveat":
                leave = _minutes(value)
            elif slot == "arriveby":
                arrive = _minutes(value)
            else:
                exact[slot] = value
        rows = self.tables[domain]
        if domain == "train":
            route = tuple(exact.get(k) for k in ("departure", "destination", "day"))
            if None not in route:
                rows = self._trains_by.get(route, [])  # type: ignore[arg-type]
            else:
                for name in ("departure", "destination", "day"):
                    if name in exact:
                        subset = self._trains_by.get((name, exact[name]), [])
                        rows = subset if len(subset) < len(rows) else rows
        return [
            r
            for r in rows
            if all(r.get(k) == v for k, v in exact.items())
            and (leave is None or _minutes(r["leaveAt"]) >= leave)
            and (arrive is None or _minutes(r["arriveBy"]) <= arrive)
        ]


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _numbered(records: Iterable[Record]) -> list[Record]:
    out = []
    for index, record in enumerate(records):
        record["id"] = str(index)
        out.append(record)
    return out
