"""``python -m tod_lab`` / ``tod-lab``: compose the config and run the pipeline."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from tod_lab.cli import CONFIG_PATH, report_errors


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
@report_errors
def main(cfg: DictConfig) -> float | None:
    from tod_lab.pipeline import run

    return run(cfg)


if __name__ == "__main__":
    main()
