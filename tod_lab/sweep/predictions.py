"""Sample rows of a run's predictions next to the gold data (the W&B predictions table).

A run's ``metrics.json`` lists its files by role (``files: {"predictions": path}``, written
by the system). Two formats are understood:

- SGD-format dialogues (a ``.json`` / ``.json.gz`` file or a directory of them, as the SGD
  evaluator reads them): one row per user turn — gold vs predicted state (slot values and
  active intent per service), gold from the run's eval split (``cfg.data``);
- MultiWOZ end-to-end predictions (``{dialogue_id: [turn, ...]}``, mwzeval format): one
  row per system turn — gold vs predicted delexicalised response and state.

Anything else yields no rows (the caller logs why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from omegaconf import DictConfig, OmegaConf

from tod_lab.data.io import dialogue_files, read_json
from tod_lab.data.types import USER, Dialogue, DialogueSplit

COLUMNS = ["dialogue_id", "turn", "speaker", "utterance", "gold", "predicted", "match"]


def _compact(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def predictions_path(run_dir: Path) -> Path | None:
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        return None
    files = read_json(metrics).get("files") or {}
    for role, path in files.items():
        if "prediction" in role:
            path = Path(path)
            return path if path.is_absolute() else run_dir / path
    return None


def _state_of(dialogue: Dialogue, turn_index: int) -> dict[str, Any]:
    turn = dialogue.turns[turn_index]
    return {
        f.service: {"intent": f.state.active_intent,
                    "slots": {k: list(v) for k, v in sorted(f.state.slot_values.items())}}
        for f in turn.frames if f.state is not None
    }


def _gold_split(config: DictConfig) -> DialogueSplit:
    from hydra.utils import instantiate

    source = instantiate(OmegaConf.select(config, "data"), _convert_="all")
    return source.read()


def _read_sgd_predictions(path: Path) -> list[Dialogue]:
    files = dialogue_files(path) if path.is_dir() else [path]
    dialogues = []
    for file in files:
        raw = read_json(file)
        if not isinstance(raw, list):
            raise ValueError(f"{file}: not a list of SGD dialogues")
        dialogues.extend(Dialogue.from_json(d) for d in raw)
    return dialogues


def sgd_rows(predicted: list[Dialogue], gold: DialogueSplit, limit: int) -> list[list[Any]]:
    by_id = {d.dialogue_id: d for d in gold.dialogues}
    rows: list[list[Any]] = []
    for dialogue in predicted:
        reference = by_id.get(dialogue.dialogue_id)
        for index, turn in enumerate(dialogue.turns):
            if turn.speaker != USER:
                continue
            hyp = _state_of(dialogue, index)
            ref = _state_of(reference, index) if reference and index < len(
                reference.turns) else {}
            rows.append([dialogue.dialogue_id, index, turn.speaker, turn.utterance,
                         _compact(ref), _compact(hyp), ref == hyp])
            if len(rows) >= limit:
                return rows
    return rows


def multiwoz_rows(predicted: dict[str, list[dict[str, Any]]], gold: DialogueSplit,
                  limit: int) -> list[list[Any]]:
    def key(dialogue_id: str) -> str:  # mwzeval ids: lower case, no ".json"
        return dialogue_id.lower().removesuffix(".json")

    by_id = {key(d.dialogue_id): d for d in gold.dialogues}
    rows: list[list[Any]] = []
    for dialogue_id, turns in predicted.items():
        reference = by_id.get(key(dialogue_id))
        system_turns = [t for t in reference.turns if t.speaker != USER] if reference else []
        for index, turn in enumerate(turns):
            gold_turn = system_turns[index] if index < len(system_turns) else None
            predicted_text = turn.get("response", "")
            gold_text = gold_turn.utterance if gold_turn is not None else ""
            state = turn.get("state")
            rows.append([dialogue_id, 2 * index + 1, "SYSTEM", gold_text,
                         gold_text, predicted_text + (f"  state={_compact(state)}" if state
                                                      else ""), gold_text == predicted_text])
            if len(rows) >= limit:
                return rows
    return rows


def sample_rows(run_dir: Path, config: DictConfig, limit: int = 50) -> tuple[list[str],
                                                                               list[list[Any]]]:
    path = predictions_path(run_dir)
    if path is None or not path.exists():
        raise FileNotFoundError(f"no predictions listed in {run_dir / 'metrics.json'}")
    if path.is_dir() or path.name.startswith("dialogues"):
        return COLUMNS, sgd_rows(_read_sgd_predictions(path), _gold_split(config), limit)
    raw = read_json(path)
    if isinstance(raw, list):
        return COLUMNS, sgd_rows([Dialogue.from_json(d) for d in raw], _gold_split(config),
                                 limit)
    if isinstance(raw, dict):
        return COLUMNS, multiwoz_rows(raw, _gold_split(config), limit)
    raise ValueError(f"{path}: unknown predictions format")
