"""Databases behind Spec-TOD's observations ("There are N entities match").

* :class:`MultiWOZDB` — the MultiWOZ venue DBs (``db/{domain}_db.json``) queried with the
  UBAR semantics the reference uses (UBAR ``db_ops.queryJsons``, re-implemented here
  because no library ships it and UBAR's code is not a package):

  - ``taxi`` returns one record (deterministic here; UBAR draws it at random), ``police``
    returns all records, ``hospital`` matches on ``department`` only (exact; no department
    -> every department, i.e. the whole hospital);
  - no constraint with a value other than ``""`` / ``"not mentioned"`` -> no result;
  - an exact ``name`` match returns that venue at once; otherwise ``name`` is ignored;
  - booking slots (``book*``: people, stay, day / time of a booking) are ignored,
    ``dontcare`` and empty values are skipped, ``free`` means ``yes``;
  - ``arriveby`` means DB time <= asked, ``leaveat`` DB time >= asked, both compared in
    minutes (a value that is not ``HH:MM`` matches nothing);
  - every other constraint is an exact match with the DB field (a field the records lack
    matches nothing). Values are compared lower-cased: the 2.2 states are lower-case while
    some DB fields (police name, addresses) are capitalised.

  Slot names are the MultiWOZ 2.2 ones (``hotel-pricerange`` or ``pricerange``); DB fields
  are matched ignoring case, spaces and underscores (``arriveby`` <-> ``arriveBy``,
  ``entrancefee`` <-> ``entrance fee``), so any corpus in the MultiWOZ layout (the toy one
  too) works with its own domains.
* :class:`ServiceResultsDB` — SGD has no DB, only the ``service_results`` the system saw.
  The "DB" of a split is every distinct result row of every system frame of that split,
  per service (and intent); a call matches the rows that agree with every argument whose
  value occurs in the rows' column (other values are surface forms the canonical rows
  cannot resolve, and are ignored). The same function gives the counts in the training data (gold
  state) and at inference (predicted state), so the count the model learns to read is the
  count it will see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tod_lab.data.io import read_json
from tod_lab.data.types import DONTCARE, DialogueSplit
from tod_lab.errors import DataError

SKIPPED_VALUES = {"don't care", "do n't care", "dont care", "not mentioned", DONTCARE, ""}
ARRIVE_SLOTS = {"arriveby", "arrive", "arrive_by"}
LEAVE_SLOTS = {"leaveat", "leave", "leave_at"}


class Database(Protocol):
    def count(self, service: str, state: Mapping[str, str]) -> int | None:
        """Entities matching ``state`` (schema slot names -> value); None: no DB."""
        ...

    def first_name(self, service: str, state: Mapping[str, str]) -> str | None:
        """The name of the first matching entity (the one a system offers), if known."""
        ...


def field_key(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "")


def bare_slot(domain: str, slot: str) -> str:
    prefix = f"{domain}-"
    return slot[len(prefix) :] if slot.startswith(prefix) else slot


def minutes(value: str) -> int | None:
    try:
        hours, mins = value.strip().split(":")
        return int(hours) * 60 + int(mins)
    except (ValueError, AttributeError):
        return None


@dataclass
class MultiWOZDB:
    """Venue DBs of a MultiWOZ-layout corpus: ``{db_dir}/{domain}_db.json``."""

    db_dir: str | Path
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        directory = Path(self.db_dir)
        if not directory.is_dir():
            raise DataError(
                "MultiWOZ DB directory not found",
                file=directory,
                hint="the MultiWOZ layout keeps the venue DBs in {data.root}/db/*_db.json",
            )
        for path in sorted(directory.glob("*_db.json")):
            records = read_json(path)
            if not isinstance(records, list):
                raise DataError("expected a JSON list of records", file=path)
            self.tables[path.name[: -len("_db.json")].lower()] = records

    @classmethod
    def from_split(cls, split: DialogueSplit, db_dir: str | Path | None = None) -> MultiWOZDB:
        directory = db_dir or split.extras.get("db_dir")
        if not directory:
            raise DataError(
                f"{split.corpus}/{split.split}: no venue DB directory",
                hint="MultiWOZ-layout corpora need {data.root}/db/*_db.json "
                "(or set system.db_dir)",
            )
        return cls(directory)

    def has_domain(self, domain: str) -> bool:
        return domain.lower() in self.tables

    def query(self, domain: str, constraints: Mapping[str, str]) -> list[dict[str, Any]]:
        domain = domain.lower()
        if domain not in self.tables:
            return []
        table = self.tables[domain]
        cons = {
            field_key(bare_slot(domain, slot)): str(value).strip().lower()
            for slot, value in constraints.items()
        }
        if domain == "taxi":
            return [_one_taxi(table)]
        if domain == "police":
            return list(table)
        if domain == "hospital":
            department = cons.get("department", "")
            if department in SKIPPED_VALUES:
                return list(table)
            return [r for r in table if str(r.get("department", "")).lower() == department]
        if not any(v not in ("", "not mentioned") for v in cons.values()):
            return []
        name = cons.get("name")
        if name is not None:
            for record in table:
                if str(record.get("name", "")).lower() == name:
                    return [record]
        return [r for r in table if _matches(r, cons)]

    def count(self, service: str, state: Mapping[str, str]) -> int | None:
        if not self.has_domain(service):
            return None
        return len(self.query(service, state))

    def first_name(self, service: str, state: Mapping[str, str]) -> str | None:
        """The ``name`` of the first match in DB order: the venue a MultiWOZ-style system
        names when it fills ``[name]`` (the toy corpus's system offers exactly this one)."""
        if not self.has_domain(service):
            return None
        matches = self.query(service, state)
        name = matches[0].get("name") if matches else None
        return str(name).lower() if name else None


def _one_taxi(table: list[dict[str, Any]]) -> dict[str, Any]:
    if not table:
        return {}
    first = table[0]
    # the taxi "DB" lists the possible colours / types / phone patterns; one record of them
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in first.items()}


def _matches(record: Mapping[str, Any], cons: Mapping[str, str]) -> bool:
    fields = {field_key(k): v for k, v in record.items()}
    for slot, value in cons.items():
        if slot == "name" or slot.startswith("book"):
            continue
        if value in SKIPPED_VALUES:
            continue
        if slot not in fields:
            return False
        if value == "free":
            value = "yes"
        stored = str(fields[slot]).lower()
        if slot in ARRIVE_SLOTS or slot in LEAVE_SLOTS:
            asked, have = minutes(value), minutes(stored)
            if asked is None or have is None:
                return False
            if slot in ARRIVE_SLOTS and asked < have:
                return False
            if slot in LEAVE_SLOTS and asked > have:
                return False
        elif value != stored:
            return False
    return True


@dataclass
class ServiceResultsDB:
    """SGD's results as a DB: distinct ``service_results`` rows per (service, intent)."""

    rows: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)

    @classmethod
    def from_split(cls, split: DialogueSplit) -> ServiceResultsDB:
        rows: dict[tuple[str, str], dict[tuple, dict[str, str]]] = {}
        for dialogue in split:
            for turn in dialogue.turns:
                for frame in turn.frames:
                    if frame.service_call is None or not frame.service_results:
                        continue
                    bucket = rows.setdefault((frame.service, frame.service_call.method), {})
                    for row in frame.service_results:
                        bucket.setdefault(tuple(sorted(row.items())), dict(row))
        return cls({key: list(bucket.values()) for key, bucket in rows.items()})

    def services(self) -> set[str]:
        return {service for service, _ in self.rows}

    def query(
        self, service: str, constraints: Mapping[str, str], intent: str | None = None
    ) -> list[dict[str, str]]:
        candidates: list[dict[str, str]] = []
        for (row_service, method), rows in self.rows.items():
            if row_service == service and (not intent or intent == method):
                candidates.extend(rows)
        columns: dict[str, set[str]] = {}
        for row in candidates:
            for slot, value in row.items():
                columns.setdefault(slot, set()).add(value.strip().lower())
        # a constraint filters only when the rows know its value: the results hold canonical
        # values ("11:30", "2019-03-01") while states hold what was said ("half past 11",
        # "today"), which no lookup can resolve; such a constraint is ignored, like UBAR
        # ignores a name it cannot find
        wanted = {
            slot: str(value).strip().lower()
            for slot, value in constraints.items()
            if str(value).strip().lower() in columns.get(slot, ())
        }
        return [
            row
            for row in candidates
            if all(row[s].strip().lower() == v for s, v in wanted.items() if s in row)
        ]

    def count(self, service: str, state: Mapping[str, str]) -> int | None:
        intent = state.get("intent")
        constraints = {k: v for k, v in state.items() if k != "intent"}
        if service not in self.services():
            return None
        return len(self.query(service, constraints, intent=intent))

    def first_name(self, service: str, state: Mapping[str, str]) -> str | None:
        # the rows pool every dialogue's results: their order says nothing about which
        # entity a given system offered
        return None
