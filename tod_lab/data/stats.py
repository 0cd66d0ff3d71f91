"""Corpus statistics (what ``python -m tod_lab.data`` prints)."""

from __future__ import annotations

from typing import Any

from tod_lab.data.types import USER, DialogueSplit, Schema


def split_statistics(data: DialogueSplit, train_schema: Schema | None = None) -> dict[str, Any]:
    services = sorted({s for d in data.dialogues for s in d.services})
    turns = sum(len(d.turns) for d in data.dialogues)
    user_turns = sum(1 for d in data.dialogues for t in d.turns if t.speaker == USER)
    user_frames = sum(
        len(t.frames) for d in data.dialogues for t in d.turns if t.speaker == USER
    )
    stats: dict[str, Any] = {
        "corpus": data.corpus,
        "split": data.split,
        "variant": data.variant,
        "files": len(data.files),
        "dialogues": len(data.dialogues),
        "turns": turns,
        "user_turns": user_turns,
        "user_frames": user_frames,
        "services": len(services),
        "service_names": services,
        "skipped_dialogues": len(data.skipped),
    }
    if train_schema is not None:
        seen = [s for s in services if s in train_schema]
        stats["seen_services"] = len(seen)
        stats["unseen_services"] = len(services) - len(seen)
    return stats
