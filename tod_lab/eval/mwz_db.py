"""The MultiWOZ venue databases queried with mwzeval's semantics.

``MultiWOZDatabase(db_dir).query(domain, constraints)`` returns the ids of the restaurants,
hotels and attractions (``id``) or trains (``trainid``) that satisfy every constraint:

- column names are lower-cased without spaces, ``arriveBy`` -> ``arrive``, ``leaveAt`` ->
  ``leave``; a few descriptive columns are dropped (location, price lists, introductions);
- the columns considered are those of the domain's first record; a constraint on another
  name is ignored, as are ``dontcare``-like values; values are normalised like states
  (:func:`tod_lab.eval.mwz_normalize.normalize_state_value`);
- a record whose value is ``?`` matches anything; ``arrive`` means the record arrives no
  later, ``leave`` that it leaves no earlier (compared in minutes);
- ``name`` / ``food`` (restaurant), ``name`` (hotel, attraction), ``departure`` /
  ``destination`` (train) match when fuzzywuzzy's ``partial_ratio`` is >= 90; every other
  column must be equal.

Other domains (taxi, police, hospital) have no venues to offer: the query returns ``[]``.
Query results are cached per (domain, constraints); the DB files are read through
``tod_lab.data.io.read_json``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from tod_lab.data.io import read_json
from tod_lab.errors import DataError
from tod_lab.eval.mwz_normalize import normalize_state_value, time_to_minutes

VENUE_DOMAINS = ("restaurant", "hotel", "attraction", "train")
IGNORED_COLUMNS = {
    "attraction": ("location", "openhours"),
    "hotel": ("location", "price", "takesbookings"),
    "restaurant": ("location", "introduction", "signature"),
}
FUZZY_COLUMNS = {
    "hotel": frozenset({"name"}),
    "attraction": frozenset({"name"}),
    "restaurant": frozenset({"name", "food"}),
    "train": frozenset({"departure", "destination"}),
}
DONTCARE_VALUES = frozenset(
    {"dontcare", "not mentioned", "don't care", "dont care", "do n't care", "do not care"}
)
FUZZY_RATIO = 90


@lru_cache(maxsize=1 << 16)
def partial_ratio(a: str, b: str) -> int:
    """fuzzywuzzy's ``partial_ratio`` (the difflib backend mwzeval ran with), cached."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fuzzywuzzy import fuzz
    return fuzz.partial_ratio(a, b)


def _column(name: str) -> str:
    if name == "id":
        return name
    name = name.lower().replace(" ", "")
    return {"arriveby": "arrive", "leaveat": "leave"}.get(name, name)


class MultiWOZDatabase:
    """The four venue databases of a ``db/`` directory (``{domain}_db.json``)."""

    def __init__(self, db_dir: str | Path):
        self.db_dir = Path(db_dir)
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.columns: dict[str, tuple[str, ...]] = {}
        for domain in VENUE_DOMAINS:
            path = self.db_dir / f"{domain}_db.json"
            if not path.is_file():
                raise DataError(
                    f"{domain} database not found",
                    file=path,
                    hint="point --data_root / db_dir at MultiWOZ's db/ directory",
                )
            raw = read_json(path)
            if not isinstance(raw, list) or not raw or not all(isinstance(r, dict) for r in raw):
                raise DataError("expected a non-empty JSON list of records", file=path)
            ignored = IGNORED_COLUMNS.get(domain, ())
            records = [
                {_column(k): v for k, v in record.items() if k not in ignored} for record in raw
            ]
            self.records[domain] = records
            self.columns[domain] = tuple(records[0])
        self._cache: dict[tuple[str, tuple[tuple[str, Any], ...]], list[str]] = {}

    def _query_values(self, domain: str, constraints: Mapping[str, Any]) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for column in self.columns[domain]:
            value = constraints.get(column)
            if value is None or value in DONTCARE_VALUES:
                continue
            value = normalize_state_value(column, value)
            query[column] = time_to_minutes(value) if column in ("arrive", "leave") else value
        return query

    def query(self, domain: str, constraints: Mapping[str, Any]) -> list[str]:
        """Ids of the venues (train ids) matching every constraint, in database order."""
        if domain not in self.records:
            return []
        query = self._query_values(domain, constraints)
        key = (domain, tuple(sorted(query.items())))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._run(domain, query)
        return list(cached)

    def _run(self, domain: str, query: Mapping[str, Any]) -> list[str]:
        fuzzy = FUZZY_COLUMNS.get(domain, frozenset())
        id_column = "trainid" if domain == "train" else "id"
        results = []
        for record in self.records[domain]:
            for column, wanted in query.items():
                have = record.get(column)
                if have == "?":
                    continue
                if have is None:  # a record without the column cannot satisfy it
                    break
                if column == "arrive":
                    if time_to_minutes(have) > wanted:
                        break
                elif column == "leave":
                    if time_to_minutes(have) < wanted:
                        break
                elif column in fuzzy:
                    if partial_ratio(have, wanted) < FUZZY_RATIO:
                        break
                elif have != wanted:
                    break
            else:
                results.append(record[id_column])
        return results


__all__ = ["FUZZY_RATIO", "MultiWOZDatabase", "VENUE_DOMAINS", "partial_ratio"]
