"""``python -m tod_lab.data data=sgd data.root=DIR data.split=SPLIT [data_fraction=10pct]``

Loads and validates one split, applies the data fraction when the split is ``train`` (and
writes ``train_ids.txt``), and prints the statistics; the last line is one JSON object,
also written to ``statistics.json`` in the Hydra run directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from tod_lab.cli import CONFIG_PATH, report_errors


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
@report_errors
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from tod_lab.data.io import write_json
    from tod_lab.pipeline import apply_fraction, build_source, describe

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    source = build_source(cfg)
    data = source.read()
    full_size = None
    if data.split == "train":
        full_size = len(data)
        data = apply_fraction(cfg, data, run_dir)
    stats = describe(data, source, full_size)
    if data.skipped:
        reasons = sorted(data.skipped.items())[:20]
        print(f"skipped {len(data.skipped)} invalid dialogues (data.strict=false):")
        for dialogue_id, reason in reasons:
            print(f"  {dialogue_id}: {reason}")
        stats["skipped"] = dict(data.skipped)
    write_json(run_dir / "statistics.json", stats)
    print(json.dumps({k: v for k, v in stats.items() if k != "skipped"}))


if __name__ == "__main__":
    main()
