"""``make demo`` / ``python -m tod_lab.demo [OVERRIDES...]``: the whole lab in minutes, offline.

Runs the ``demo`` sweep (``conf/sweep/demo.yaml``): the tiny PyTOD agent (T5 built from
config + LoRA) and the tiny Spec-TOD agent (Llama built from config + LoRA), each trained
for a few minutes on CPU on the toy corpus (generated on first use, no download), then run
turn by turn on its dev dialogues and scored (PyTOD: JGA with the official SGD semantics;
Spec-TOD: its end-to-end metrics). Prints a summary table and writes, under
``outputs/sweeps/demo/latest/``: ``results.md`` / ``results.csv`` (the table),
``demo_summary.md``, ``demo.png`` (training loss and main metric per system) and the
per-system run dirs with ``metrics.json``, predictions and checkpoints. Re-running skips
what already finished; add overrides to change it (e.g. ``seed=1``).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from tod_lab.data.io import read_json

DEMO_SWEEP = "demo"
# Shown next to the main metric when the job recorded them (name -> label)
EXTRA_COLUMNS = {"val_loss": "val loss", "global_step": "steps", "train_seconds": "train s"}


def job_summary(run_dir: Path) -> dict[str, Any]:
    """One row of the demo summary from a job's run dir (failed jobs included)."""
    from tod_lab.sweep.collect import read_job

    record = read_job(run_dir)
    train_path = run_dir / "train_metrics.json"
    config = run_dir / "config.yaml"
    split = OmegaConf.select(OmegaConf.load(config), "data.split") if config.is_file() else None
    return {
        "split": split,
        "run_dir": run_dir,
        "status": record.status,
        "error": record.error,
        "system": record.params.get("system") or run_dir.name,
        "model": record.params.get("model"),
        "peft": record.params.get("peft"),
        "fraction": record.params.get("data_fraction"),
        "main_metric": record.main_metric if record.metrics else None,
        "main_value": record.metrics.get(record.main_metric or ""),
        "metrics": record.metrics,
        "protocols": record.protocols,
        "train": read_json(train_path) if train_path.is_file() else {},
        "seconds": record.seconds,
    }


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["system", "model", "PEFT", "data", "status", "main metric", "value",
              *EXTRA_COLUMNS.values(), "total s"]
    table = []
    for row in rows:
        fraction = row["fraction"]
        table.append([
            str(row["system"]), _fmt(row["model"]), _fmt(row["peft"]),
            f"{fraction * 100:g}%" if isinstance(fraction, int | float) else "—",
            row["status"], _fmt(row["main_metric"]), _fmt(row["main_value"]),
            *(_fmt(row["train"].get(key)) for key in EXTRA_COLUMNS),
            _fmt(row["seconds"]),
        ])
    return header, table


def write_summary(rows: list[dict[str, Any]], out: Path, wall_seconds: float) -> Path:
    header, table = summary_rows(rows)
    splits = sorted({str(r["split"]) for r in rows if r["split"]})
    lines = ["# tod_lab demo", "",
             f"Wall time {wall_seconds / 60:.1f} min. Toy corpora (generated offline), "
             f"{'/'.join(splits) or 'eval'} split; tiny models built from config, trained from "
             "scratch on CPU.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table]
    for row in rows:
        lines += ["", f"## {row['system']}", ""]
        if row["status"] != "finished":
            lines.append(f"failed: {row['error']}")
            continue
        for name, value in sorted(row["metrics"].items()):
            protocol = row["protocols"].get(name, "")
            lines.append(f"- `{name}` = {_fmt(value)}" + (f" ({protocol})" if protocol else ""))
    path = out / "demo_summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from tod_lab.sweep import run as sweep_run
    from tod_lab.sweep.callbacks import last_collection
    from tod_lab.sweep.plots import plot_demo

    args = list(sys.argv[1:] if argv is None else argv)
    sweep = DEMO_SWEEP
    if args[:1] == ["--sweep"]:  # another sweep definition (the tests use a fast one)
        sweep, args = args[1], args[2:]
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(Panel.fit(
        "[bold]tod_lab demo[/bold]: tiny PyTOD and Spec-TOD agents, trained and evaluated "
        "offline on the toy corpus\n(each: build examples -> train with LoRA on CPU -> run the "
        "agent turn by turn on the dev dialogues -> score)", border_style="cyan"))
    started = time.perf_counter()
    sweep_run.main([sweep, *args])
    wall = time.perf_counter() - started
    collection = last_collection()
    if collection is None:
        console.print("[red]the demo sweep produced no results[/red]")
        return 1
    run_dirs = [Path(p) for p in collection.table.jobs["run_dir"]]
    rows = [job_summary(d) for d in run_dirs]
    header, table_rows = summary_rows(rows)
    table = Table(title=f"demo summary ({wall / 60:.1f} min)")
    for column in header:
        table.add_column(column, justify="left" if column in ("system", "model", "PEFT",
                                                              "status") else "right")
    for row, cells in zip(rows, table_rows, strict=True):
        table.add_row(*cells, style=None if row["status"] == "finished" else "red")
    console.print(table)
    out = collection.out_dir
    summary = write_summary(rows, out, wall)
    figure = plot_demo([(str(r["system"]), r["run_dir"], r["main_metric"], r["main_value"])
                        for r in rows], out / "demo.png")
    console.print(f"table: {collection.files['results_md']}\nsummary: {summary}\n"
                  f"plot: {figure}\nlatest: {out.parent / 'latest'}\nrun dirs: "
                  f"{', '.join(str(d) for d in run_dirs)}")
    failed = [r for r in rows if r["status"] != "finished"]
    for row in failed:
        console.print(f"[red]{row['system']} failed[/red]: {row['error']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
