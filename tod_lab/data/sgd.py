"""Reader for the Schema-Guided Dialogue (DSTC8) layout, and its SGD-X variants.

Layout: ``{root}/{split}/schema.json`` plus whatever ``dialogues_*.json[.gz]`` files exist.
"""

from __future__ import annotations

from pathlib import Path

from tod_lab.data.io import dialogue_files
from tod_lab.data.reading import read_dialogue_files
from tod_lab.data.schema_io import read_schema
from tod_lab.data.types import DialogueSplit
from tod_lab.errors import DataError

SPLITS = ("train", "dev", "test")


def split_dir(root: str | Path, split: str) -> Path:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return Path(root) / split


def read_split(
    root: str | Path,
    split: str,
    *,
    strict: bool = True,
    variant: str | None = None,
    sgdx_root: str | Path | None = None,
    corpus: str = "sgd",
) -> DialogueSplit:
    """Read one SGD split; with ``variant='v1'..'v5'`` rename it through SGD-X."""
    directory = split_dir(root, split)
    if not directory.is_dir():
        raise DataError(
            f"SGD split directory not found (data.root={root})",
            file=directory,
            hint="point data.root at a directory holding train/ dev/ test/ (see `make data`)",
        )
    schema = read_schema(directory / "schema.json")
    files = dialogue_files(directory)
    if not files:
        raise DataError("no dialogues_*.json(.gz) files in split directory", file=directory)
    transform = None
    if variant:
        from tod_lab.data.sgdx import SchemaRenaming

        renaming = SchemaRenaming.for_split(schema, sgdx_root, variant, split)
        transform = renaming.rename_dialogue
        schema = renaming.variant_schema
    dialogues, skipped = read_dialogue_files(files, schema, strict=strict, transform=transform)
    return DialogueSplit(
        corpus=corpus,
        split=split,
        schema=schema,
        dialogues=tuple(dialogues),
        files=tuple(str(f) for f in files),
        variant=variant or None,
        skipped=skipped,
    )
