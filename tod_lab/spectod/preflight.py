"""Fail fast: the paper experiments need MultiWOZ 2.2 dialogues and Llama-3 weights.

Neither can be downloaded on these machines. Instead of failing minutes into a run (after
reading data, building examples, loading a tokenizer), the ``spectod_*pct`` experiments
register :class:`SpecTODPreflight` as a Hydra callback: before the job starts it checks
every input the run needs and stops with ONE message listing each missing thing and how to
provide it. With overrides that need nothing external (``model=llama_tiny data=toy``) the
checks pass and the run proceeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from tod_lab.errors import TodLabError


class PreflightError(TodLabError):
    """Inputs a run needs are missing; the message lists each and how to provide it."""


def _data_problems(cfg: DictConfig) -> list[str]:
    data = OmegaConf.select(cfg, "data")
    if data is None:
        return []
    target = str(data.get("_target_", ""))
    root = Path(str(data.get("root")))
    name = str(data.get("name", "corpus"))
    if target.endswith("MultiWOZSource"):
        needed = ["train", str(data.get("split", "dev"))]
        missing = [
            split
            for split in dict.fromkeys(needed)
            if not any((root / split).glob("dialogues_*.json*"))
        ]
        if missing:
            return [
                f"MultiWOZ 2.2 dialogues: {', '.join(str(root / s / 'dialogues_*.json') for s in missing)} "
                f"not found (data.root={root}). Provide them with `make data` on a machine with "
                "network (it downloads MultiWOZ 2.2 and the mwzeval goals into "
                f"{root.parent}), or copy multiwoz/data/MultiWOZ_2.2 (schema.json, train/, dev/, "
                f"test/, dialog_acts.json) plus its db/ and run with data.root=/path/to/it"
            ]
    elif target.endswith("SGDSource"):
        if not (root / "train" / "schema.json").is_file():
            return [
                f"SGD corpus ({name}): {root / 'train' / 'schema.json'} not found. Run `make data` "
                "or set data.root to a copy of dstc8-schema-guided-dialogue"
            ]
    return []


def _model_problems(cfg: DictConfig) -> list[str]:
    model = OmegaConf.select(cfg, "model")
    if model is None or model.get("source") != "pretrained":
        return []
    from tod_lab.errors import ModelUnavailableError
    from tod_lab.models.factory import ModelSpec, resolve_local_path

    try:
        resolve_local_path(ModelSpec.from_config(model))
    except ModelUnavailableError as err:
        return [f"model weights: {err}"]
    except TodLabError as err:
        return [f"model config: {err}"]
    return []


def missing_requirements(cfg: DictConfig) -> list[str]:
    """Everything the run needs that this machine does not have (empty: good to go)."""
    return _data_problems(cfg) + _model_problems(cfg)


def check_requirements(cfg: DictConfig) -> None:
    problems = missing_requirements(cfg)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise PreflightError(
            f"this Spec-TOD experiment cannot run on this machine; missing:\n{listed}\n"
            "(to try the pipeline without them: model=llama_tiny data=toy)"
        )


class SpecTODPreflight(Callback):
    """Hydra callback (``hydra.callbacks``): checks the inputs before the job starts."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_requirements(config)
