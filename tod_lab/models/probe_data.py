"""Probe examples from real SGD dialogues: exercise the training core on real text.

Not a TOD system: a simple, deterministic "user turn -> dialogue state string" task used by
the core's own tests, benchmarks and the ``python -m tod_lab.models`` smoke CLI, so they
run on the length / vocabulary distribution of the real corpus without depending on a
system's example builder.
"""

from __future__ import annotations

import os
from pathlib import Path

from datasets import Dataset

from tod_lab.data.types import DialogueSplit
from tod_lab.errors import DataError


def state_string(frames) -> str:
    parts = []
    for frame in frames:
        if frame.state is None:
            continue
        slots = ", ".join(
            f"{slot}={values[0]}" for slot, values in sorted(frame.state.slot_values.items()) if values
        )
        parts.append(f"{frame.service}: {frame.state.active_intent}" + (f"; {slots}" if slots else ""))
    return " | ".join(parts)


def state_rows(split: DialogueSplit, limit: int | None = None) -> list[dict[str, str]]:
    """``{"source", "target"}`` per user turn: previous agent turn + user turn -> state."""
    rows: list[dict[str, str]] = []
    for dialogue in split.dialogues:
        previous_agent = ""
        for turn in dialogue.turns:
            if not turn.is_user:
                previous_agent = turn.utterance
                continue
            source = f"track the state. agent: {previous_agent} user: {turn.utterance}"
            rows.append({"source": source, "target": state_string(turn.frames)})
            if limit is not None and len(rows) >= limit:
                return rows
    return rows


def state_examples(split: DialogueSplit, limit: int | None = None) -> Dataset:
    return Dataset.from_list(state_rows(split, limit))


def state_chat_examples(split: DialogueSplit, limit: int | None = None) -> Dataset:
    """The same task as chat messages: loss on the assistant answer only."""
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Track the dialogue state.", "loss": False},
                {"role": "user", "content": row["source"], "loss": False},
                {"role": "assistant", "content": row["target"], "loss": True},
            ]
        }
        for row in state_rows(split, limit)
    ]
    return Dataset.from_list(rows)


def shared_sgd_root() -> Path:
    """``$TOD_LAB_SHARED_DATA/sgd`` (default ``../shared/data/sgd`` beside the checkout):
    where the benchmarks find real SGD text."""
    repo = Path(__file__).resolve().parents[2]
    root = Path(os.environ.get("TOD_LAB_SHARED_DATA", repo.parent / "shared" / "data")) / "sgd"
    if not (root / "dev" / "schema.json").is_file():
        raise DataError(
            "real SGD dialogues are needed for this benchmark",
            file=root,
            hint="set TOD_LAB_SHARED_DATA to the directory holding sgd/",
        )
    return root


def read_probe_split(split: str = "dev") -> DialogueSplit:
    from tod_lab.data.sgd import read_split

    return read_split(shared_sgd_root(), split)
