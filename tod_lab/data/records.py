"""Turn-level records of a split as a ``datasets.Dataset``, cached by content.

One row per turn: ``dialogue_id``, ``turn_index``, ``speaker``, ``utterance``,
``services`` and ``frames`` (the turn's SGD frames as a JSON string, so every corpus shares
one Arrow schema). The cache key is a hash of the bytes of the source files plus the
variant and the selected dialogue ids, so editing a data file or changing the fraction never
reuses a stale cache, and the same content is never converted twice.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import datasets
import orjson

from tod_lab.data.types import DialogueSplit

RECORDS_VERSION = "1"  # bump when the row format changes


def content_key(data: DialogueSplit) -> str:
    digest = hashlib.sha256(f"{RECORDS_VERSION}|{data.corpus}|{data.split}|{data.variant}".encode())
    for name in sorted(data.files):
        path = Path(name)
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update("\n".join(data.dialogue_ids).encode())
    return digest.hexdigest()[:24]


def _rows(data: DialogueSplit):
    for dialogue in data.dialogues:
        for index, turn in enumerate(dialogue.turns):
            yield {
                "dialogue_id": dialogue.dialogue_id,
                "turn_index": index,
                "speaker": turn.speaker,
                "utterance": turn.utterance,
                "services": list(dialogue.services),
                "frames": orjson.dumps([f.to_json() for f in turn.frames]).decode(),
            }


def turn_records(data: DialogueSplit, cache_dir: str | Path) -> datasets.Dataset:
    """The split's turns as a Dataset; built once per content, then loaded from disk."""
    target = Path(cache_dir) / "records" / f"{data.corpus}-{data.split}-{content_key(data)}"
    if (target / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(target))
    dataset = datasets.Dataset.from_list(list(_rows(data)))
    # build next to the target and rename: a crash never leaves a half-written cache
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    dataset.save_to_disk(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return datasets.load_from_disk(str(target))
