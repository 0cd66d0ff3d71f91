"""Corpus sources: what ``cfg.data`` instantiates to.

A source knows where a corpus lives and how to read one of its splits; the rest of tod_lab
only sees :class:`~tod_lab.data.types.DialogueSplit`. Reading is memoised per source object
so the pipeline can ask for the train split from several stages without re-parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tod_lab.data import multiwoz, sgd
from tod_lab.data.schema_io import read_schema
from tod_lab.data.types import DialogueSplit, Schema
from tod_lab.errors import ConfigError


@dataclass
class CorpusSource:
    name: str
    root: str
    split: str = "dev"  # the split a run evaluates on (and the stats CLI describes)
    strict: bool = True
    limit_dialogues: int | None = None  # debug: keep only the first N dialogues of a split
    _cache: dict[str, DialogueSplit] = field(default_factory=dict, init=False, repr=False)

    def read(self, split: str | None = None) -> DialogueSplit:
        split = split or self.split
        if split not in self._cache:
            data = self._read(split)
            if self.limit_dialogues:
                data = data.subset(data.dialogue_ids[: int(self.limit_dialogues)])
            self._cache[split] = data
        return self._cache[split]

    def train_schema(self) -> Schema:
        """The schema of the training split: defines seen vs unseen services.

        Reads only the schema file when the train dialogues are not loaded yet.
        """
        if "train" in self._cache:
            return self._cache["train"].schema
        return self._read_train_schema()

    def _read_train_schema(self) -> Schema:
        return self.read("train").schema

    def _read(self, split: str) -> DialogueSplit:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class SGDSource(CorpusSource):
    variant: str | None = None
    sgdx_root: str | None = None

    def _read(self, split: str) -> DialogueSplit:
        if not Path(self.root).is_dir():
            raise ConfigError(
                "data.root",
                f"SGD directory {self.root!r} does not exist",
                "set data.root (or TOD_LAB_DATA) to a copy of dstc8-schema-guided-dialogue; "
                "`make data` downloads one when online",
            )
        return sgd.read_split(
            self.root,
            split,
            strict=self.strict,
            variant=self.variant,
            sgdx_root=self.sgdx_root,
            corpus=self.name,
        )

    def _read_train_schema(self) -> Schema:
        schema = read_schema(sgd.split_dir(self.root, "train") / "schema.json")
        if self.variant:
            from tod_lab.data.sgdx import SchemaRenaming

            schema = SchemaRenaming.for_split(
                schema, self.sgdx_root, self.variant, "train"
            ).variant_schema
        return schema


@dataclass
class MultiWOZSource(CorpusSource):
    schema_path: str | None = None

    def _read(self, split: str) -> DialogueSplit:
        if not Path(self.root).is_dir():
            raise ConfigError(
                "data.root",
                f"MultiWOZ 2.2 directory {self.root!r} does not exist",
                "set data.root to a copy of multiwoz/data/MultiWOZ_2.2",
            )
        return multiwoz.read_split(
            self.root, split, strict=self.strict, schema_path=self.schema_path, corpus=self.name
        )

    def _read_train_schema(self) -> Schema:
        # MultiWOZ has one schema for all splits: every service is "seen"
        return read_schema(self.schema_path or Path(self.root) / "schema.json")
