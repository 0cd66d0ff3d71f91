"""``python -m tod_lab.models``: train the core alone on a file of examples or on probe data.

    python -m tod_lab.models model=t5_tiny peft=lora trainer=cpu +examples=ex.jsonl
    python -m tod_lab.models model=llama_tiny peft=lora trainer=ddp_cpu +examples=sgd_probe

``+examples`` is a .json/.jsonl file of rows (``{"source", "target"}`` or
``{"messages"}``, an optional ``task`` column splits them into tasks) or ``sgd_probe``:
"user turn -> state string" examples from ``cfg.data``'s train split (see probe_data.py).
Writes the run directory like a pipeline run and prints train_metrics.json. Used by the
kill -9 / resume and the DDP tests (Lightning's DDP launcher re-runs this command).
"""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from tod_lab.cli import CONFIG_PATH, report_errors
from tod_lab.errors import ConfigError

log = logging.getLogger(__name__)


def load_examples(cfg: DictConfig, spec_kind: str) -> dict:
    from datasets import Dataset

    source = OmegaConf.select(cfg, "examples")
    if not source:
        raise ConfigError("examples", "missing", "add +examples=<file.jsonl> or +examples=sgd_probe")
    limit = OmegaConf.select(cfg, "examples_limit")
    if source == "sgd_probe":
        from hydra.utils import instantiate

        from tod_lab.models.probe_data import state_chat_examples, state_examples

        corpus = instantiate(cfg.data, _convert_="all")
        build = state_chat_examples if spec_kind == "causal" else state_examples
        return {"dst": build(corpus.read("train"), limit)}
    from tod_lab.data.io import read_json

    path = str(source)
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    else:
        rows = read_json(path)
    if limit:
        rows = rows[: int(limit)]
    tasks: dict[str, list] = {}
    for row in rows:
        tasks.setdefault(row.pop("task", "default"), []).append(row)
    return {name: Dataset.from_list(task_rows) for name, task_rows in tasks.items()}


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
@report_errors
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from tod_lab.models.train import train

    run_dir = HydraConfig.get().runtime.output_dir
    kind = OmegaConf.select(cfg, "model.kind")
    bundle = train(cfg, load_examples(cfg, kind), run_dir)
    print(json.dumps(bundle.train_metrics, sort_keys=True), flush=True)
    return bundle.train_metrics.get("val_loss")


if __name__ == "__main__":
    main()
