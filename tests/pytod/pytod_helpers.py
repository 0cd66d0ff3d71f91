"""Helpers shared by the PyTOD tests (real-data readers)."""

from __future__ import annotations

from pathlib import Path

from tod_lab.data.io import dialogue_files
from tod_lab.data.reading import read_dialogue_files
from tod_lab.data.schema_io import read_schema
from tod_lab.data.sgdx import SchemaRenaming
from tod_lab.data.types import DialogueSplit


def first_file_split(root: Path, split: str, variant: str | None = None, sgdx_root=None):
    schema_ = read_schema(root / split / "schema.json")
    transform = None
    if variant:
        renaming = SchemaRenaming.for_split(schema_, sgdx_root, variant, split)
        transform, schema_ = renaming.rename_dialogue, renaming.variant_schema
    files = dialogue_files(root / split)[:1]
    dialogues, _ = read_dialogue_files(files, schema_, strict=True, transform=transform)
    return DialogueSplit("sgd", split, schema_, tuple(dialogues), tuple(str(f) for f in files),
                         variant=variant)
