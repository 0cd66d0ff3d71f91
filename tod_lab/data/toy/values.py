"""Value vocabularies of the toy corpora and their surface forms.

A slot value has one *canonical* form (what service calls and results use, what
``canonical_values`` holds) and several *surface* forms (what people say). Surface
forms are finite and regular so that a tiny model can learn them: times such as
``7:30 pm`` / ``19:30`` / ``half past 7 in the evening`` all map to ``19:30``.
"""

from __future__ import annotations

import random

from tod_lab.data.numbers import CARDINAL_WORDS

# the toy world's "today" is Friday 1 March 2019, as in SGD
YEAR_MONTH = "2019-03"
MONTH_NAME = "March"
WEEKDAYS = ("Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday")

# canonical city -> informal names users sometimes say instead
CITIES: dict[str, tuple[str, ...]] = {
    "San Francisco": ("SF", "San Fran"),
    "Los Angeles": ("LA",),
    "New York": ("NYC",),
    "Seattle": (),
    "Chicago": ("Chi-town",),
    "San Diego": (),
    "Portland": (),
    "Boston": (),
    "Denver": (),
    "Austin": (),
    "Atlanta": (),
    "Philadelphia": ("Philly",),
    "Las Vegas": ("Vegas",),
    "Phoenix": (),
    "Sacramento": (),
    "Vancouver": (),
}
CITY_NAMES = tuple(CITIES)
AREA_CODES = {city: 200 + 37 * i for i, city in enumerate(CITY_NAMES)}

# digits the toy users may spell out ("three tickets"): 0 to 10
SPELLED_DIGITS = {str(n): CARDINAL_WORDS[n] for n in range(11)}

STREETS = (
    "Oak", "Maple", "Pine", "Cedar", "Elm", "Mission", "Market", "Harbor", "Lake", "Hill",
    "Park", "Sunset", "River", "Valley", "Main", "Broadway", "Lincoln", "Washington",
    "Madison", "Jackson", "Grant", "Franklin", "Spring", "Willow",
)  # fmt: skip
STREET_KINDS = ("Street", "Avenue", "Boulevard", "Road", "Drive", "Lane", "Way")


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ----------------------------------------------------------------------------- time


def canonical_time(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def _split_time(canonical: str) -> tuple[int, int]:
    hour, minute = canonical.split(":")
    return int(hour), int(minute)


def _clock(hour: int, minute: int) -> tuple[int, str, str]:
    h12 = hour % 12 or 12
    ampm = "am" if hour < 12 else "pm"
    mins = f":{minute:02d}" if minute else ""
    return h12, ampm, mins


def _day_part(hour: int) -> str:
    if hour < 12:
        return "in the morning"
    if hour < 17:
        return "in the afternoon"
    return "in the evening"


def time_user_surfaces(canonical: str) -> list[str]:
    hour, minute = _split_time(canonical)
    h12, ampm, mins = _clock(hour, minute)
    forms = [f"{h12}{mins} {ampm}", f"{h12}{mins} {_day_part(hour)}"]
    if hour >= 12:
        forms.append(canonical)  # "19:30"
    if minute == 30:
        forms.append(f"half past {h12} {_day_part(hour)}")
    if hour == 12 and minute == 0:
        forms.append("noon")
    return forms


def time_system_surface(canonical: str) -> str:
    hour, minute = _split_time(canonical)
    h12, ampm, mins = _clock(hour, minute)
    return f"{h12}{mins} {ampm}"


# ----------------------------------------------------------------------------- date


def canonical_date(day: int) -> str:
    return f"{YEAR_MONTH}-{day:02d}"


def _day_of(canonical: str) -> int:
    return int(canonical.rsplit("-", 1)[1])


def date_user_surfaces(canonical: str) -> list[str]:
    day = _day_of(canonical)
    forms = [f"{MONTH_NAME} {ordinal(day)}", f"the {ordinal(day)}"]
    if day == 1:
        forms += ["today", "today"]
    elif day == 2:
        forms += ["tomorrow", "tomorrow"]
    elif day == 3:
        forms.append("the day after tomorrow")
    if 3 <= day <= 7:
        forms.append(f"this {WEEKDAYS[(day - 1) % 7]}")
    return forms


def date_system_surface(canonical: str) -> str:
    """Agents name dates absolutely ("March 2nd"), users often relatively ("tomorrow")."""
    return f"{MONTH_NAME} {ordinal(_day_of(canonical))}"


RELATIVE_DATES = frozenset({"today", "tomorrow", "the day after tomorrow"})


# ----------------------------------------------------------------------------- kinds


def user_surface(kind: str, canonical: str, rng: random.Random, *, after_on: bool = False) -> str:
    """How a user says ``canonical`` (a non-categorical value).

    ``after_on``: the template reads "on {value}", where "on tomorrow" would be wrong.
    """
    if kind == "time":
        return rng.choice(time_user_surfaces(canonical))
    if kind == "date":
        forms = date_user_surfaces(canonical)
        if after_on:
            forms = [f for f in forms if f not in RELATIVE_DATES]
        return rng.choice(forms)
    if kind == "city":
        informal = CITIES.get(canonical, ())
        if informal and rng.random() < 0.12:
            return rng.choice(informal)
        return canonical
    if kind == "money":
        return f"${canonical}"
    return canonical


def system_surface(kind: str, canonical: str) -> str:
    """How the system says ``canonical``: one fixed form, as a consistent agent would."""
    if kind == "time":
        return time_system_surface(canonical)
    if kind == "date":
        return date_system_surface(canonical)
    if kind == "money":
        return f"${canonical}"
    return canonical


def number_surface(value: str, rng: random.Random) -> str:
    """Digits or words for a categorical count ("2" or "two"); never span-annotated."""
    if value in SPELLED_DIGITS and rng.random() < 0.4:
        return SPELLED_DIGITS[value]
    return value


# ----------------------------------------------------------------------------- venues


def phone_number(city: str, rng: random.Random) -> str:
    return f"{AREA_CODES.get(city, 555)}-{rng.randint(200, 989)}-{rng.randint(1000, 9999)}"


def street_address(rng: random.Random) -> str:
    return f"{rng.randint(1, 2999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"
