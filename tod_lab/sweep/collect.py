"""Gather the jobs of a sweep into one table: ``python -m tod_lab.sweep.collect DIR``.

Reads only what every run leaves in its run dir (see :mod:`tod_lab.runs`): ``status.json``,
``metrics.json`` and the resolved ``config.yaml`` (``.hydra/`` files as a fallback for jobs
killed before the pipeline started). Writes to ``<out>/<timestamp>/``:

- ``jobs.csv``     one row per job: parameters, status, error, seconds, every metric;
- ``results.csv``  one row per cell (the jobs that differ only in ``seed``): the varied
                   parameters, seed counts, status, and ``<metric>_mean`` / ``<metric>_std``
                   (sample std over the finished seeds) for every metric;
- ``results.md``   the same cells as a Markdown table (mean ± std), failed cells shown as
                   failed, followed by the failed jobs and their errors;
- ``<main metric>_vs_fraction.png`` (see :mod:`tod_lab.sweep.plots`);

and points ``<out>/latest`` at it. The table is printed with rich.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from tod_lab.data.io import read_json, write_json
from tod_lab.runs import TABLE_PARAMS

log = logging.getLogger(__name__)

SEED = "seed"
# Override keys that never name a parameter of the table (they select the sweep itself,
# the logger, or where things go).
NON_PARAM_OVERRIDES = ("sweep", "hparams_search", "logger", "paths", "hydra", "debug")
# Display order of the known parameters; anything else follows, then "experiment".
PARAM_ORDER = ("system", "model", "peft", "data", "data_fraction")
STATUS_ORDER = ("finished", "failed", "running", "missing")
TIMESTAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"


@dataclass(frozen=True)
class JobRecord:
    """Everything the table needs from one run dir."""

    run_dir: Path
    status: str  # finished | failed | running | missing (no status.json: never started)
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    protocols: dict[str, str] = field(default_factory=dict)
    main_metric: str | None = None
    error: str | None = None
    seconds: float | None = None
    config_hash: str | None = None
    sweep_name: str | None = None
    table_metrics: tuple[str, ...] = ()  # the sweep's choice of results.md columns


@dataclass
class SweepTable:
    """Jobs grouped into cells; ``cells`` is one row per cell, ``jobs`` one per job."""

    jobs: pd.DataFrame
    cells: pd.DataFrame
    varied: list[str]  # the parameter columns of ``cells`` (seed excluded)
    fixed: dict[str, Any]  # parameters with one value across the sweep
    metrics: list[str]  # every metric name, main metrics first
    protocols: dict[str, str]
    failures: list[JobRecord]


# ---------------------------------------------------------------- reading run dirs


def find_job_dirs(root: Path, since: float | None = None) -> list[Path]:
    """Run dirs under ``root``: directories with ``status.json`` or a Hydra ``.hydra/``.

    ``since`` (a POSIX time) keeps only the jobs a multirun launched after that moment:
    Hydra rewrites ``.hydra/overrides.yaml`` for every job it launches, skipped ones too.
    """
    found: set[Path] = set()
    for marker in ("status.json", ".hydra/overrides.yaml"):
        for path in root.rglob(marker):
            run_dir = path.parent if marker == "status.json" else path.parent.parent
            if "superseded" in run_dir.relative_to(root).parts:
                continue
            found.add(run_dir)
    dirs = sorted(found)
    if since is not None:
        dirs = [d for d in dirs if _launch_time(d) >= since]
    return dirs


def _launch_time(run_dir: Path) -> float:
    marker = run_dir / ".hydra" / "overrides.yaml"
    path = marker if marker.is_file() else run_dir / "status.json"
    return path.stat().st_mtime


def _load_config(run_dir: Path) -> DictConfig | None:
    for candidate in (run_dir / "config.yaml", run_dir / ".hydra" / "config.yaml"):
        if candidate.is_file():
            cfg = OmegaConf.load(candidate)
            return cfg if isinstance(cfg, DictConfig) else None
    return None


def _select(cfg: DictConfig | None, key: str) -> Any:
    if cfg is None:
        return None
    value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
    if isinstance(value, DictConfig | list) or OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=False)  # type: ignore[arg-type]
    return value


def _overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(path)] if path.is_file() else []


def _override_params(overrides: Iterable[str], cfg: DictConfig | None) -> dict[str, Any]:
    """Parameters set by overrides that the table params do not already cover."""
    group_of_param = {key.split(".")[0] for key in TABLE_PARAMS.values()}
    params: dict[str, Any] = {}
    for override in overrides:
        key, _, text = override.lstrip("+~").partition("=")
        root = key.split(".")[0].split("/")[0]
        if root in NON_PARAM_OVERRIDES or key in group_of_param or key in TABLE_PARAMS:
            continue
        value = _select(cfg, key)
        params[key] = value if value is not None and not isinstance(value, dict) else text
    return params


def read_job(run_dir: Path) -> JobRecord:
    """One run dir -> :class:`JobRecord` (tolerates whatever a crash left behind)."""
    run_dir = Path(run_dir)
    cfg = _load_config(run_dir)
    params = {name: _select(cfg, key) for name, key in TABLE_PARAMS.items()}
    params.update(_override_params(_overrides(run_dir), cfg))
    status_path, metrics_path = run_dir / "status.json", run_dir / "metrics.json"
    status = read_json(status_path) if status_path.is_file() else {}
    state = status.get("status", "missing")
    record: dict[str, Any] = {}
    if state == "finished" and metrics_path.is_file():
        record = read_json(metrics_path)
        params.update({k: v for k, v in record.get("params", {}).items() if k in params})
    seconds = status.get("seconds")
    return JobRecord(
        run_dir=run_dir,
        status=state,
        params=params,
        metrics={k: float(v) for k, v in record.get("metrics", {}).items() if _is_number(v)},
        protocols=dict(record.get("protocols", {})),
        main_metric=record.get("main_metric") or _select(cfg, "main_metric"),
        error=status.get("error"),
        seconds=float(seconds) if seconds is not None else None,
        config_hash=status.get("config_hash"),
        sweep_name=_select(cfg, "sweep.name"),
        table_metrics=tuple(_select(cfg, "sweep.table_metrics") or ()),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------- aggregation


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        return str(value)
    return "—" if value is None else value


def _param_order(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    known = [n for n in PARAM_ORDER if n in names]
    rest = sorted(n for n in names if n not in PARAM_ORDER and n not in (SEED, "experiment"))
    tail = [n for n in ("experiment",) if n in names]
    return known + rest + tail


# Columns that only name a bundle of other settings: dropped when they are a relabelling of
# another varied column (experiment=pytod_tiny <-> system=pytod). Real parameters are never
# dropped, even when a small search happens to vary two of them in lockstep.
LABEL_COLUMNS = ("experiment",)


def _drop_redundant(varied: list[str], jobs: pd.DataFrame) -> list[str]:
    def relabels(name: str, other: str) -> bool:
        return (jobs.groupby(name)[other].nunique().max() == 1
                and jobs.groupby(other)[name].nunique().max() == 1)

    return [name for name in varied
            if name not in LABEL_COLUMNS
            or not any(relabels(name, other) for other in varied if other != name)]


def aggregate(records: list[JobRecord]) -> SweepTable:
    """Group jobs that differ only in ``seed`` into cells: mean ± std over finished seeds."""
    if not records:
        raise ValueError("no jobs to aggregate")
    param_names = _param_order(n for r in records for n in r.params)
    has_seed = any(SEED in r.params for r in records)
    metric_names = _metric_order(records)
    rows = []
    for r in records:
        row: dict[str, Any] = {n: _hashable(r.params.get(n)) for n in param_names}
        row[SEED] = r.params.get(SEED)
        row.update(status=r.status, main_metric=r.main_metric, seconds=r.seconds,
                   error=r.error, config_hash=r.config_hash, run_dir=str(r.run_dir))
        row.update({m: r.metrics.get(m, math.nan) for m in metric_names})
        rows.append(row)
    jobs = pd.DataFrame(rows)
    varied = [n for n in param_names if jobs[n].nunique(dropna=False) > 1]
    varied = _drop_redundant(varied, jobs)
    fixed = {n: jobs[n].iloc[0] for n in param_names if n not in varied
             and jobs[n].nunique(dropna=False) == 1 and jobs[n].iloc[0] != "—"}
    if has_seed and jobs[SEED].nunique() == 1:
        fixed[SEED] = jobs[SEED].iloc[0]

    cells = []
    groups = jobs.groupby(varied, sort=False, dropna=False) if varied else [((), jobs)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        cells.append(_cell_row(dict(zip(varied, key, strict=True)), group, metric_names))
    cells_df = pd.DataFrame(cells)
    if varied:
        cells_df = cells_df.sort_values(varied, key=_sort_key, kind="stable").reset_index(
            drop=True)
    protocols: dict[str, str] = {}
    for r in records:
        protocols.update(r.protocols)
    return SweepTable(
        jobs=jobs,
        cells=cells_df,
        varied=varied,
        fixed=fixed,
        metrics=metric_names,
        protocols=protocols,
        failures=[r for r in records if r.status == "failed"],
    )


def _metric_order(records: list[JobRecord]) -> list[str]:
    main = [r.main_metric for r in records if r.main_metric and r.main_metric in r.metrics]
    others = sorted({m for r in records for m in r.metrics})
    return list(dict.fromkeys([*main, *others]))


def _sort_key(column: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(column, errors="coerce")
    return numeric if numeric.notna().all() else column.astype(str)


def _cell_row(key: dict[str, Any], group: pd.DataFrame, metrics: list[str]) -> dict[str, Any]:
    finished = group[group["status"] == "finished"]
    counts = group["status"].value_counts()
    mains = [m for m in finished["main_metric"].dropna().unique()]
    main = mains[0] if len(mains) == 1 else None
    row: dict[str, Any] = dict(key)
    row.update(
        n_seeds=len(group),
        n_finished=int(counts.get("finished", 0)),
        n_failed=int(counts.get("failed", 0)),
        n_unfinished=int(counts.get("running", 0) + counts.get("missing", 0)),
        status=_cell_status(counts, len(group)),
        seeds=" ".join(str(s) for s in sorted(group[SEED].dropna().unique())),
        main_metric=main,
        main_mean=finished[main].mean() if main else math.nan,
        main_std=finished[main].std(ddof=1) if main and len(finished) > 1 else math.nan,
        seconds_mean=finished["seconds"].mean() if len(finished) else math.nan,
    )
    for m in metrics:
        values = finished[m].dropna()
        row[f"{m}_mean"] = values.mean() if len(values) else math.nan
        row[f"{m}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
    return row


def _cell_status(counts: pd.Series, total: int) -> str:
    finished, failed = int(counts.get("finished", 0)), int(counts.get("failed", 0))
    unfinished = total - finished - failed
    if finished == total:
        return "ok"
    if failed == total:
        return "failed"
    parts = []
    if failed:
        parts.append(f"{failed}/{total} failed")
    if unfinished:
        parts.append(f"{unfinished}/{total} unfinished")
    return ", ".join(parts)


# ---------------------------------------------------------------- formatting


def format_number(value: float) -> str:
    return f"{value:.4g}"


def format_cell(mean: float, std: float, n: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if n > 1 and not math.isnan(std):
        return f"{format_number(mean)} ± {format_number(std)}"
    return format_number(mean)


def format_param(name: str, value: Any) -> str:
    if name == "data_fraction" and _is_number(value):
        return f"{value * 100:g}%"
    return str(value)


def table_metrics(table: SweepTable, wanted: list[str] | None = None, limit: int = 4) -> list[str]:
    """Metric columns of the Markdown table: the main metrics, then ``wanted`` or, by
    default, the other metrics up to ``limit`` columns in all (results.csv has them all)."""
    mains = main_metrics(table)
    if wanted:
        return list(dict.fromkeys([*mains, *(m for m in wanted if m in table.metrics)]))
    return list(dict.fromkeys([*mains, *table.metrics]))[:max(limit, len(mains))]


def main_metrics(table: SweepTable) -> list[str]:
    return sorted(set(table.cells["main_metric"].dropna()))


def markdown_rows(table: SweepTable, metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table. With one main metric across the sweep it is simply the
    first metric column, marked "(main)"; with several (e.g. PyTOD's JGA next to Spec-TOD's
    Combined) each row names its own main metric and value in two columns."""
    mains = main_metrics(table)
    single = len(mains) <= 1
    shown = metrics if single else [m for m in metrics if m not in mains]
    header = [*table.varied, "seeds", "status"]
    if not single:
        header += ["main metric", "main"]
    header += [f"{m} (main)" if single and m in mains else m for m in shown]
    header.append("seconds")
    rows = []
    for _, cell in table.cells.iterrows():
        n = int(cell["n_finished"])

        def value(mean: float, std: float, n: int = n) -> str:
            return "failed" if n == 0 else format_cell(mean, std, n)

        row = [*(format_param(p, cell[p]) for p in table.varied), str(cell["seeds"] or "—"),
               cell["status"]]
        if not single:
            main = cell["main_metric"]
            row += [main if isinstance(main, str) else "—",
                    value(cell["main_mean"], cell["main_std"])]
        row += [value(cell[f"{m}_mean"], cell[f"{m}_std"]) for m in shown]
        seconds = cell["seconds_mean"]
        row.append("" if math.isnan(seconds) else f"{seconds:.0f}" if seconds >= 10
                   else f"{seconds:.1f}")
        rows.append(row)
    return header, rows


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(table: SweepTable, name: str, metrics: list[str],
                    out_dir: Path | None = None) -> str:
    header, rows = markdown_rows(table, metrics)
    lines = [f"# Sweep `{name}`", ""]
    n_jobs = len(table.jobs)
    counts = table.jobs["status"].value_counts()
    summary = ", ".join(f"{int(counts[s])} {s}" for s in STATUS_ORDER if s in counts)
    lines.append(f"{n_jobs} jobs ({summary}); mean ± sample std over finished seeds.")
    if table.fixed:
        fixed = ", ".join(f"{k}={format_param(k, v)}" for k, v in table.fixed.items())
        lines.append(f"Fixed: {fixed}.")
    lines.append("")
    lines.append("| " + " | ".join(_escape(h) for h in header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    shown = [m for m in metrics if m in table.protocols]
    if shown:
        lines += ["", "Protocols: " + "; ".join(f"`{m}`: {table.protocols[m]}" for m in shown)
                  + "."]
    if table.failures:
        lines += ["", "## Failed jobs", ""]
        for r in table.failures:
            where = r.run_dir / "status.json"
            if out_dir is not None:
                where = Path(os.path.relpath(where, out_dir))
            lines.append(f"- `{r.run_dir.name}`: {_escape(r.error or 'unknown error')} "
                         f"(see `{where}`)")
    return "\n".join(lines) + "\n"


def print_table(table: SweepTable, name: str, metrics: list[str], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if _is_terminal() else 160)
    header, rows = markdown_rows(table, metrics)
    rich_table = Table(title=f"sweep {name}", show_lines=False)
    for column in header:
        rich_table.add_column(column, justify="left" if column in table.varied else "right")
    for row in rows:
        style = "red" if row[header.index("status")] != "ok" else None
        rich_table.add_row(*row, style=style)
    console.print(rich_table)
    for r in table.failures:
        console.print(f"[red]failed[/red] {r.run_dir.name}: {r.error}")


def _is_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


# ---------------------------------------------------------------- writing


@dataclass(frozen=True)
class Collection:
    out_dir: Path
    table: SweepTable
    files: dict[str, Path]


def update_latest(root: Path, target: Path) -> Path:
    """Point ``root/latest`` at ``target`` (a relative symlink, replaced atomically)."""
    latest = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target.name, target_is_directory=True)
        os.replace(tmp, latest)
    except OSError:  # no symlinks here (some Windows / network filesystems): copy instead
        if latest.is_dir() and not latest.is_symlink():
            shutil.rmtree(latest)
        shutil.copytree(target, latest)
    return latest


def write_collection(
    table: SweepTable,
    out_root: Path,
    name: str,
    *,
    timestamp: str | None = None,
    wanted_metrics: list[str] | None = None,
    plot: bool = True,
) -> Collection:
    out_dir = out_root / (timestamp or datetime.now().strftime(TIMESTAMP_FORMAT))
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "jobs_csv": out_dir / "jobs.csv",
        "results_csv": out_dir / "results.csv",
        "results_md": out_dir / "results.md",
    }
    table.jobs.to_csv(files["jobs_csv"], index=False)
    table.cells.to_csv(files["results_csv"], index=False)
    metrics = table_metrics(table, wanted_metrics)
    files["results_md"].write_text(render_markdown(table, name, metrics, out_dir))
    write_json(out_dir / "sweep.json", {
        "name": name,
        "fixed": {k: v if not hasattr(v, "item") else v.item() for k, v in table.fixed.items()},
        "varied": table.varied,
        "protocols": table.protocols,
        "jobs": len(table.jobs),
    })
    if plot:
        from tod_lab.sweep.plots import plot_main_metric

        png = plot_main_metric(table, out_dir, title=name)
        if png is not None:
            files["plot"] = png
    update_latest(out_root, out_dir)
    return Collection(out_dir, table, files)


def default_out_root(job_root: Path, name: str) -> Path:
    """``outputs/sweeps/<name>`` for a sweep's ``jobs/`` dir, else ``<dir>/collected``."""
    job_root = job_root.resolve()
    if job_root.name == "jobs":
        return job_root.parent
    if (job_root / "jobs").is_dir():
        return job_root
    return job_root / "collected"


def collect(
    job_root: Path | str,
    *,
    out_root: Path | str | None = None,
    name: str | None = None,
    since: float | None = None,
    timestamp: str | None = None,
    wanted_metrics: list[str] | None = None,
    plot: bool = True,
    print_rich: bool = True,
) -> Collection:
    """Collect every job under ``job_root`` (see the module docstring)."""
    job_root = Path(job_root)
    if (job_root / "jobs").is_dir():
        job_root = job_root / "jobs"
    dirs = find_job_dirs(job_root, since=since)
    if not dirs and since is not None:
        log.warning("no job under %s was launched by this multirun; collecting all", job_root)
        dirs = find_job_dirs(job_root)
    if not dirs:
        raise FileNotFoundError(f"no run directories (status.json or .hydra/) under {job_root}")
    records = [read_job(d) for d in dirs]
    name = name or next((r.sweep_name for r in records if r.sweep_name), None) or (
        job_root.parent.name if job_root.name == "jobs" else job_root.name)
    if not wanted_metrics:
        wanted_metrics = list(next((r.table_metrics for r in records if r.table_metrics), ()))
    table = aggregate(records)
    out = Path(out_root) if out_root is not None else default_out_root(job_root, name)
    collection = write_collection(table, out, name, timestamp=timestamp,
                                  wanted_metrics=wanted_metrics, plot=plot)
    if print_rich:
        print_table(table, name, table_metrics(table, wanted_metrics))
        from rich.console import Console

        Console().print(f"table and plots: {collection.out_dir}")
    return collection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tod_lab.sweep.collect",
        description="Gather the run dirs under DIR into results.csv / results.md / plots.",
    )
    parser.add_argument("dir", type=Path, help="a sweep dir (outputs/sweeps/<name>), its "
                        "jobs/ dir, or any directory holding run dirs")
    parser.add_argument("--out", type=Path, default=None,
                        help="where <timestamp>/ and latest go (default: the sweep dir)")
    parser.add_argument("--name", default=None, help="sweep name shown in the table")
    parser.add_argument("--metrics", nargs="*", default=None,
                        help="metric columns of results.md (default: main metrics first)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"{args.dir} is not a directory")
    try:
        collection = collect(args.dir, out_root=args.out, name=args.name,
                             wanted_metrics=args.metrics, plot=not args.no_plot)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    # Failed jobs are part of the result (shown in the table), not a failure to collect.
    del collection
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
