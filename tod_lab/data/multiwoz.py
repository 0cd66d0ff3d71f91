"""Reader for the MultiWOZ 2.2 layout.

``{root}/schema.json``, ``{root}/{split}/dialogues_*.json[.gz]``, optional
``{root}/dialog_acts.json`` and ``{root}/db/*_db.json``. MultiWOZ 2.2 follows the SGD format
with quirks this reader accepts: slot names are ``domain-slot`` (``restaurant-food``), system
frames carry no state (often no frames at all), and every user turn has a frame for every
domain, whether the dialogue uses it or not. Spans may carry ``value`` and ``copy_from``.
"""

from __future__ import annotations

from pathlib import Path

from tod_lab.data.io import dialogue_files, read_json
from tod_lab.data.reading import read_dialogue_files
from tod_lab.data.schema_io import read_schema
from tod_lab.data.sgd import split_dir
from tod_lab.data.types import DialogueSplit
from tod_lab.errors import DataError


def read_split(
    root: str | Path,
    split: str,
    *,
    strict: bool = True,
    schema_path: str | Path | None = None,
    corpus: str = "multiwoz22",
) -> DialogueSplit:
    root = Path(root)
    directory = split_dir(root, split)
    schema = read_schema(Path(schema_path) if schema_path else root / "schema.json")
    if not directory.is_dir():
        raise DataError(
            "MultiWOZ 2.2 split directory not found",
            file=directory,
            hint=(
                "the MultiWOZ 2.2 dialogues are not on this machine; download them "
                "(`make data`, online) or set data.root to a local copy of "
                "multiwoz/data/MultiWOZ_2.2"
            ),
        )
    files = dialogue_files(directory)
    if not files:
        raise DataError("no dialogues_*.json(.gz) files in split directory", file=directory)
    dialogues, skipped = read_dialogue_files(
        files, schema, strict=strict, frames_must_be_listed=False
    )
    extras: dict[str, object] = {}
    acts_path = root / "dialog_acts.json"
    if acts_path.is_file():
        acts = read_json(acts_path)
        if not isinstance(acts, dict):
            raise DataError("expected an object {dialogue_id: {turn_id: ...}}", file=acts_path)
        extras["dialog_acts"] = acts
    if (root / "db").is_dir():
        extras["db_dir"] = str(root / "db")
    return DialogueSplit(
        corpus=corpus,
        split=split,
        schema=schema,
        dialogues=tuple(dialogues),
        files=tuple(str(f) for f in files),
        skipped=skipped,
        extras=extras,
    )
