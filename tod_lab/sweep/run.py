"""``python -m tod_lab.sweep.run [NAME] [OVERRIDES...]`` (``make sweep SWEEP=NAME``).

Runs the sweep defined in ``conf/sweep/NAME.yaml`` as a Hydra multirun — exactly
``python -m tod_lab --multirun +sweep=NAME OVERRIDES...`` except that every job goes
through :func:`tod_lab.sweep.job.run_job` (skip finished jobs, resume interrupted ones, a
crashing job does not stop the others). The sweep's collector callback writes the table
and plots to ``outputs/sweeps/NAME/<timestamp>/`` when the multirun ends.

Examples::

    python -m tod_lab.sweep.run                                  # data_efficiency
    python -m tod_lab.sweep.run peft_methods seed=0,1,2 logger=csv
    python -m tod_lab.sweep.run data_efficiency hydra/launcher=parallel
    python -m tod_lab.sweep.run hparams_search=pytod_tiny_lr       # Optuna
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from tod_lab.cli import CONFIG_PATH, report_errors
from tod_lab.errors import ConfigError

DEFAULT_SWEEP = "data_efficiency"


def available(group: str) -> list[str]:
    """Config names of ``conf/<group>/`` (``_``-prefixed ones are shared building blocks)."""
    return sorted(
        p.stem for p in (Path(CONFIG_PATH) / group).glob("*.yaml") if not p.stem.startswith("_")
    )


def hydra_argv(args: list[str]) -> list[str]:
    """Turn ``[NAME] [OVERRIDES]`` into Hydra's multirun command line."""
    name = None
    if args and "=" not in args[0] and not args[0].startswith("-"):
        name, args = args[0], args[1:]
    overrides = []
    search = False
    for arg in args:
        if arg.lstrip("+").startswith("hparams_search="):
            arg, search = "+" + arg.lstrip("+"), True
        overrides.append(arg)
    if name is None and not search:
        name = DEFAULT_SWEEP
    extra_search_path = any(a.startswith("hydra.searchpath") for a in overrides)
    if name is not None and not extra_search_path and name not in available("sweep"):
        raise ConfigError(
            "sweep", f"no sweep named {name!r} in conf/sweep/",
            f"choose one of: {', '.join(available('sweep'))}",
        )
    selection = [f"+sweep={name}"] if name is not None else []
    return ["--multirun", *selection, *overrides]


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def sweep_task(cfg: DictConfig) -> float | None:
    from tod_lab.sweep.job import run_job

    return run_job(cfg)


@report_errors
def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        print("sweeps:", ", ".join(available("sweep")))
        print("hparams_search:", ", ".join(available("hparams_search")))
        return
    sys.argv = [sys.argv[0], *hydra_argv(args)]
    sweep_task()


if __name__ == "__main__":
    main()
