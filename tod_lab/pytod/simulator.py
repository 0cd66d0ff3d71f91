"""Simulated service APIs, built generically from any SGD-format schema.

The official PyTOD release hand-writes one Python class per SGD service. Here every API is
derived from the schema alone, so SGD, SGD-X variants (renamed services, intents and
slots), MultiWOZ 2.2 and brand-new services work without code:

- one API per intent, named ``{service_snake}_{intent_snake}``
  (``Restaurants_2`` + ``ReserveRestaurant`` -> ``restaurants_2_reserve_restaurant``);
- its arguments are the intent's required and optional slots (with the schema defaults);
  slot names are turned into Python identifiers (MultiWOZ ``restaurant-food`` -> ``food``);
- categorical values are validated against ``possible_values`` (number words -> digits,
  yes/no -> True/False, the schema's case restored, ``dontcare`` always allowed);
- search intents get their results from a :class:`ResultBackend`: the dialogue's own
  annotated ``service_results`` (SGD: ``next`` and "no results found" behave as in the
  data) or a venue database (MultiWOZ 2.2 ``db/*_db.json``, which has no annotated results);
- transactional intents succeed or fail as annotated (SGD) / succeed (MultiWOZ).
"""

from __future__ import annotations

import hashlib
import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rapidfuzz import fuzz

from tod_lab.data.io import read_json
from tod_lab.data.numbers import NUMBER_WORDS
from tod_lab.data.types import DONTCARE, Dialogue, Schema, Service
from tod_lab.errors import DataError

# --------------------------------------------------------------------------- names


def snake_case(name: str) -> str:
    """``ReserveRestaurant`` -> ``reserve_restaurant``; ``find_restaurant`` unchanged."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    s = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return python_identifier(s.lower())


def python_identifier(name: str) -> str:
    """A safe identifier: non-word characters -> ``_``, no leading ``_``/digit, no keyword."""
    s = re.sub(r"\W+", "_", name).strip("_")
    if not s:
        s = "slot"
    if s[0].isdigit():
        s = "s_" + s
    if keyword.iskeyword(s) or s in ("True", "False", "None"):
        s += "_"
    return s


def slot_identifier(service: str, slot: str) -> str:
    """Program name of a slot; MultiWOZ's ``domain-`` prefix is dropped."""
    prefix = service.lower() + "-"
    name = slot[len(prefix) :] if slot.lower().startswith(prefix) else slot
    return python_identifier(name.lower())


# --------------------------------------------------------------------------- values

TRUE_WORDS = frozenset({"true", "yes", "y"})
FALSE_WORDS = frozenset({"false", "no", "n"})
DONTCARE_WORDS = frozenset({DONTCARE, "don't care", "dont care", "do not care", "any"})


def value_text(value: object) -> str | None:
    """A program constant as the string a slot holds (None for None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class SlotApi:
    name: str  # the schema's slot name
    ident: str  # the program's name for it
    description: str
    is_categorical: bool
    possible_values: tuple[str, ...]

    def normalize(self, value: object) -> tuple[str | None, str | None]:
        """(schema value, None) or (None, feedback) for a value written by the model."""
        text = value_text(value)
        if text is None:
            return None, f"'{self.ident}' needs a value, not None"
        stripped = text.strip()
        if not stripped:
            return None, f"'{self.ident}' needs a non-empty value"
        if stripped.lower() in DONTCARE_WORDS:
            return DONTCARE, None
        if not self.is_categorical or not self.possible_values:
            return stripped, None
        by_lower = {v.lower(): v for v in self.possible_values}
        key = stripped.lower()
        if key in by_lower:
            return by_lower[key], None
        if key in NUMBER_WORDS and str(NUMBER_WORDS[key]) in by_lower:
            return by_lower[str(NUMBER_WORDS[key])], None
        if key in TRUE_WORDS and "true" in by_lower:
            return by_lower["true"], None
        if key in FALSE_WORDS and "false" in by_lower:
            return by_lower["false"], None
        choices = " | ".join(self.possible_values)
        return None, f"'{stripped}' is not a valid value of '{self.ident}'; choices: {choices}"

    def accepted_forms(self) -> frozenset[str] | None:
        """Every lower-cased text :meth:`normalize` accepts; None for a free-text slot.

        What constrained decoding lets a model write for this slot (kept here, next to
        ``normalize``, so the two cannot drift apart)."""
        if not self.is_categorical or not self.possible_values:
            return None
        choices = {v.lower() for v in self.possible_values}
        forms = set(choices) | DONTCARE_WORDS
        forms |= {word for word, n in NUMBER_WORDS.items() if str(n) in choices}
        if "true" in choices:
            forms |= TRUE_WORDS
        if "false" in choices:
            forms |= FALSE_WORDS
        return frozenset(forms)


@dataclass(frozen=True)
class IntentApi:
    tool: str
    service: str
    intent: str
    description: str
    transactional: bool
    required: tuple[str, ...]  # schema slot names
    optional: Mapping[str, str]  # schema slot name -> default
    result_slots: tuple[str, ...]

    @property
    def arguments(self) -> tuple[str, ...]:
        return self.required + tuple(self.optional)


@dataclass
class ServiceApi:
    name: str
    description: str
    slots: dict[str, SlotApi]  # schema name -> slot
    by_ident: dict[str, str]  # program name -> schema name
    intents: dict[str, IntentApi]  # intent name -> api

    @property
    def argument_slots(self) -> frozenset[str]:
        """Slots that are an argument of some intent (the ones a dialogue state tracks)."""
        return frozenset(s for i in self.intents.values() for s in i.arguments)

    @property
    def selectable_slots(self) -> frozenset[str]:
        """Offered slots an accepted offer puts into the state without the user naming them:
        the arguments of the service's transactions (in real SGD dev, 1,426 of 1,500 such
        single offered values join the state at a SELECT; of search-only arguments, 158 of
        571), or of any intent where the service has no transaction."""
        transactions = [i for i in self.intents.values() if i.transactional]
        if not transactions:
            return self.argument_slots
        return frozenset(s for i in transactions for s in i.arguments)

    def slot(self, ident_or_name: str) -> SlotApi | None:
        name = self.by_ident.get(ident_or_name, ident_or_name)
        return self.slots.get(name)

    def ident(self, slot_name: str) -> str:
        return self.slots[slot_name].ident


@dataclass
class ApiCatalog:
    """Every API of a schema, by tool name, plus the slot naming of each service."""

    services: dict[str, ServiceApi]
    tools: dict[str, IntentApi]

    @classmethod
    def from_schema(cls, schema: Schema) -> ApiCatalog:
        services: dict[str, ServiceApi] = {}
        tools: dict[str, IntentApi] = {}
        for service in schema:
            api = _service_api(service)
            services[service.name] = api
            for intent in api.intents.values():
                tool = intent.tool
                n = 2
                while tool in tools:  # two services whose snake names collide
                    tool = f"{intent.tool}_{n}"
                    n += 1
                if tool != intent.tool:
                    intent = IntentApi(**{**intent.__dict__, "tool": tool})
                    api.intents[intent.intent] = intent
                tools[tool] = intent
        return cls(services=services, tools=tools)

    def tool(self, name: str) -> IntentApi | None:
        return self.tools.get(name)

    def tool_for(self, service: str, intent: str) -> IntentApi:
        return self.services[service].intents[intent]

    def tools_of(self, services: Sequence[str]) -> list[IntentApi]:
        return [i for s in services if s in self.services for i in self.services[s].intents.values()]


def _service_api(service: Service) -> ServiceApi:
    slots: dict[str, SlotApi] = {}
    by_ident: dict[str, str] = {}
    for slot in service.slots:
        ident = slot_identifier(service.name, slot.name)
        if ident in by_ident:  # collision after sanitising: fall back to the full name
            ident = python_identifier(slot.name.lower())
        while ident in by_ident:
            ident += "_"
        by_ident[ident] = slot.name
        slots[slot.name] = SlotApi(
            name=slot.name,
            ident=ident,
            description=slot.description,
            is_categorical=slot.is_categorical,
            possible_values=tuple(slot.possible_values),
        )
    prefix = snake_case(service.name)
    intents = {
        intent.name: IntentApi(
            tool=f"{prefix}_{snake_case(intent.name)}",
            service=service.name,
            intent=intent.name,
            description=intent.description,
            transactional=intent.is_transactional,
            required=tuple(intent.required_slots),
            optional=dict(intent.optional_slots),
            result_slots=tuple(intent.result_slots),
        )
        for intent in service.intents
    }
    return ServiceApi(service.name, service.description, slots, by_ident, intents)


# --------------------------------------------------------------------------- results

Row = Mapping[str, str]


@dataclass(frozen=True)
class TransactionOutcome:
    success: bool
    result: Row | None = None


class ResultBackend(Protocol):
    """Where search results and transaction outcomes come from."""

    def search(self, api: IntentApi, arguments: Mapping[str, str], turn: int) -> list[Row]: ...

    def transact(
        self, api: IntentApi, arguments: Mapping[str, str], turn: int
    ) -> TransactionOutcome: ...


def _norm(value: str) -> str:
    return " ".join(str(value).lower().split())


def _matches(wanted: str, have: str) -> bool:
    if _norm(wanted) == _norm(have):
        return True
    return fuzz.token_sort_ratio(_norm(wanted), _norm(have)) >= 90


@dataclass(frozen=True)
class AnnotatedCall:
    turn: int  # index of the system turn in the dialogue
    parameters: Mapping[str, str]
    results: tuple[Row, ...]


@dataclass
class AnnotatedResults:
    """Replays the ``service_call`` / ``service_results`` annotated in one SGD dialogue.

    A search returns the results of the call the system made right after the current user
    turn when that call used the same intent (that is what the data shows next); otherwise
    the rows of any annotated call of that intent that agree with every given argument;
    otherwise nothing ("No results found"). A transaction succeeds when the next annotated
    call of that intent (from the current turn on) returned a result.
    """

    calls: dict[tuple[str, str], list[AnnotatedCall]] = field(default_factory=dict)
    # (service, slot, surface form lower-cased) -> canonical value, from the dialogue's own
    # acts (SGD acts carry both ``values`` and ``canonical_values``): calls and results use
    # canonical values ("2019-03-07"), people and programs say "next thursday".
    canonical: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @classmethod
    def from_dialogue(cls, dialogue: Dialogue) -> AnnotatedResults:
        calls: dict[tuple[str, str], list[AnnotatedCall]] = {}
        canonical: dict[tuple[str, str, str], str] = {}
        for index, turn in enumerate(dialogue.turns):
            for frame in turn.frames:
                for act in frame.actions:
                    if act.canonical_values and len(act.canonical_values) == len(act.values):
                        for surface, canon in zip(act.values, act.canonical_values, strict=False):
                            canonical[(frame.service, act.slot, _norm(surface))] = canon
                if frame.service_call is None:
                    continue
                key = (frame.service, frame.service_call.method)
                calls.setdefault(key, []).append(
                    AnnotatedCall(
                        turn=index,
                        parameters=dict(frame.service_call.parameters),
                        results=tuple(frame.service_results or ()),
                    )
                )
        return cls(calls, canonical)

    def canonical_value(self, service: str, slot: str, value: str) -> str:
        return self.canonical.get((service, slot, _norm(value)), value)

    def search(self, api: IntentApi, arguments: Mapping[str, str], turn: int) -> list[Row]:
        calls = self.calls.get((api.service, api.intent), [])
        for call in calls:
            if call.turn == turn + 1:
                return list(call.results)
        wanted = {
            k: self.canonical_value(api.service, k, v)
            for k, v in arguments.items()
            if v != DONTCARE
        }
        rows: list[Row] = []
        seen: set[tuple] = set()
        for call in calls:
            for row in call.results:
                merged = {**call.parameters, **row}
                if all(k in merged and _matches(v, merged[k]) for k, v in wanted.items()):
                    key = tuple(sorted(row.items()))
                    if key not in seen:
                        seen.add(key)
                        rows.append(row)
        return rows

    def transact(
        self, api: IntentApi, arguments: Mapping[str, str], turn: int
    ) -> TransactionOutcome:
        calls = self.calls.get((api.service, api.intent), [])
        later = [c for c in calls if c.turn > turn]
        call = later[0] if later else (calls[-1] if calls else None)
        if call is None or not call.results:
            return TransactionOutcome(False)
        return TransactionOutcome(True, call.results[0])


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class VenueDatabase:
    """MultiWOZ-style venue DBs: ``{db_dir}/{domain}_db.json`` (lists of records).

    Slots map to record keys by their program name with punctuation and case removed
    (``restaurant-pricerange`` -> ``pricerange``, ``train-arriveby`` -> ``arriveBy``,
    ``attraction-entrancefee`` -> ``entrance fee``). Constraints on keys the records do not
    have (``bookday``) do not filter. ``leaveat`` keeps trains leaving at or after the time,
    ``arriveby`` those arriving at or before it.
    """

    tables: dict[str, list[dict]]

    @classmethod
    def from_dir(cls, db_dir: str | Path) -> VenueDatabase:
        directory = Path(db_dir)
        if not directory.is_dir():
            raise DataError("venue database directory not found", file=directory)
        tables: dict[str, list[dict]] = {}
        for path in sorted(directory.glob("*_db.json")):
            records = read_json(path)
            if not isinstance(records, list):
                raise DataError("expected a JSON list of records", file=path)
            tables[path.name[: -len("_db.json")].lower()] = [
                r for r in records if isinstance(r, dict)
            ]
        return cls(tables)

    def search(self, api: IntentApi, arguments: Mapping[str, str], turn: int) -> list[Row]:
        table = self.tables.get(api.service.lower(), [])
        if not table:
            return []
        out: list[Row] = []
        for record in table:
            keys = {_key(k): k for k in record}
            ok = True
            for slot, value in arguments.items():
                if value == DONTCARE:
                    continue
                key = keys.get(_key(slot_identifier(api.service, slot)))
                if key is None:
                    continue
                have = record[key]
                if not isinstance(have, str):
                    continue
                name = _key(key)
                if name == "leaveat":
                    ok = have >= _norm(value)
                elif name == "arriveby":
                    ok = have <= _norm(value)
                else:
                    ok = _matches(value, have)
                if not ok:
                    break
            if ok:
                out.append({k: v for k, v in record.items() if isinstance(v, str)})
        return out

    def transact(
        self, api: IntentApi, arguments: Mapping[str, str], turn: int
    ) -> TransactionOutcome:
        digest = hashlib.sha1(repr(sorted(arguments.items())).encode()).hexdigest()[:8]
        return TransactionOutcome(True, {"ref": digest.upper()})


@dataclass
class NoResults:
    """A backend with no data: searches find nothing, transactions fail."""

    def search(self, api: IntentApi, arguments: Mapping[str, str], turn: int) -> list[Row]:
        return []

    def transact(
        self, api: IntentApi, arguments: Mapping[str, str], turn: int
    ) -> TransactionOutcome:
        return TransactionOutcome(False)


def backend_for(dialogue: Dialogue, db: VenueDatabase | None) -> ResultBackend:
    """Annotated results when the dialogue has any (SGD), else the venue DB (MultiWOZ)."""
    annotated = AnnotatedResults.from_dialogue(dialogue)
    if annotated.calls:
        return annotated
    if db is not None:
        return db
    return annotated
