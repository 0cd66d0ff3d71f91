"""Reading schema files."""

from __future__ import annotations

from pathlib import Path

from tod_lab.data.io import read_json
from tod_lab.data.types import Schema
from tod_lab.errors import DataError


def read_schema(path: str | Path) -> Schema:
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "schema file not found",
            file=path,
            hint="every split directory needs its schema.json; check data.root",
        )
    raw = read_json(path)
    if not isinstance(raw, list):
        raise DataError("expected a JSON list of services", file=path)
    try:
        schema = Schema.from_json(raw)
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"malformed schema ({type(exc).__name__}: {exc})", file=path) from exc
    names = schema.service_names
    if len(set(names)) != len(names):
        raise DataError("duplicate service names in schema", file=path)
    return schema
