"""``cfg.data`` sources for the embedded toy corpora (``data=toy``, ``data=toy_multiwoz``).

Reading a split generates the corpus first if its cache directory is missing (see
:mod:`tod_lab.data.toy.cache`), then reads it back with the same reader and validation
as the real corpus: :func:`tod_lab.data.sgd.read_split` or
:func:`tod_lab.data.multiwoz.read_split`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from tod_lab.data import multiwoz, sgd
from tod_lab.data.schema_io import read_schema
from tod_lab.data.sources import CorpusSource
from tod_lab.data.toy.cache import Builder, CorpusParams, corpus_dir, ensure_corpus
from tod_lab.data.types import DialogueSplit, Schema

log = logging.getLogger(__name__)


@dataclass
class _GeneratedSource(CorpusSource):
    corpus_seed: int = 0
    train_dialogues: int = 1000
    dev_dialogues: int = 200
    test_dialogues: int = 200

    kind = "sgd"  # class attributes, not dataclass fields

    def params(self) -> CorpusParams:
        return CorpusParams(
            kind=self.kind,
            corpus_seed=self.corpus_seed,
            train_dialogues=self.train_dialogues,
            dev_dialogues=self.dev_dialogues,
            test_dialogues=self.test_dialogues,
        )

    def _builder(self) -> Builder:  # pragma: no cover - abstract
        raise NotImplementedError

    def corpus_path(self) -> Path:
        """The generated corpus directory, generating it now if needed."""
        params = self.params()
        if not (corpus_dir(self.root, params) / "manifest.json").is_file():
            started = time.perf_counter()
            path = ensure_corpus(self.root, params, self._builder())
            log.info(
                "generated toy corpus %s in %.2fs", path, time.perf_counter() - started
            )
            return path
        return corpus_dir(self.root, params)


@dataclass
class ToySource(_GeneratedSource):
    """The SGD-layout toy corpus (:mod:`tod_lab.data.toy.sgd_corpus`)."""

    kind = "sgd"

    def _builder(self) -> Builder:
        from tod_lab.data.toy.sgd_corpus import build_sgd_corpus

        return build_sgd_corpus

    def _read(self, split: str) -> DialogueSplit:
        return sgd.read_split(self.corpus_path(), split, strict=self.strict, corpus=self.name)

    def _read_train_schema(self) -> Schema:
        return read_schema(self.corpus_path() / "train" / "schema.json")


@dataclass
class ToyMultiWOZSource(_GeneratedSource):
    """The MultiWOZ-2.2-layout toy corpus (:mod:`tod_lab.data.toy.multiwoz_corpus`)."""

    kind = "multiwoz"

    def _builder(self) -> Builder:
        from tod_lab.data.toy.multiwoz_corpus import build_multiwoz_corpus

        return build_multiwoz_corpus

    def _read(self, split: str) -> DialogueSplit:
        return multiwoz.read_split(
            self.corpus_path(), split, strict=self.strict, corpus=self.name
        )

    def _read_train_schema(self) -> Schema:
        return read_schema(self.corpus_path() / "schema.json")
