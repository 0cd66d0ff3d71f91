"""Where generated toy corpora live, and how they are written without ever being half there.

A corpus is written to ``{root}/{kind}-{key}`` where ``key`` hashes the generator version,
the corpus seed and the split sizes: changing any of them gives a new directory, so a
stale corpus is never reused. It is built in a temporary sibling directory and renamed
into place as the last step (``os.rename`` of a directory is atomic on POSIX), so a crash
leaves at worst an orphaned ``.tmp-*`` directory, never a partial corpus; concurrent
builders (several test workers) race harmlessly: the first rename wins, the others
discard their copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tod_lab.data.io import write_json
from tod_lab.errors import ConfigError

# Bump whenever generated output changes for the same parameters (templates, world, rules).
GENERATOR_VERSION = "2"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CorpusParams:
    kind: str  # "sgd" | "multiwoz"
    corpus_seed: int
    train_dialogues: int
    dev_dialogues: int
    test_dialogues: int

    def __post_init__(self) -> None:
        for split, count in self.sizes.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ConfigError(
                    f"data.{split}_dialogues",
                    f"must be a positive integer, got {count!r}",
                    "the toy corpus needs at least one dialogue per split",
                )
        if not isinstance(self.corpus_seed, int) or isinstance(self.corpus_seed, bool):
            raise ConfigError("data.corpus_seed", f"must be an integer, got {self.corpus_seed!r}")

    @property
    def sizes(self) -> dict[str, int]:
        return {
            "train": self.train_dialogues,
            "dev": self.dev_dialogues,
            "test": self.test_dialogues,
        }

    def manifest(self) -> dict:
        return {"generator_version": GENERATOR_VERSION, **asdict(self)}

    def key(self) -> str:
        blob = json.dumps(self.manifest(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


Builder = Callable[[Path, CorpusParams], None]


def corpus_dir(root: str | Path, params: CorpusParams) -> Path:
    return Path(root) / f"{params.kind}-{params.key()}"


def ensure_corpus(root: str | Path, params: CorpusParams, build: Builder) -> Path:
    """The corpus directory for ``params``, generating it first if it is not there."""
    final = corpus_dir(root, params)
    if (final / MANIFEST).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        build(tmp, params)
        write_json(tmp / MANIFEST, params.manifest())  # written last: marks completeness
        if final.exists() and not (final / MANIFEST).is_file():
            shutil.rmtree(final)  # left over from a copy that never completed
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / MANIFEST).is_file():  # not a lost race: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
