"""Plots of a collected sweep (matplotlib, Agg backend: no display needed).

``main_metric_vs_data_fraction.png``: one panel per (system, main metric) — systems have
different main metrics (JGA for PyTOD, Combined for Spec-TOD) — with the data fraction on a
log x axis and one line per combination of the other varied parameters (PEFT method,
model, ...), error bars = sample std over seeds. Sweeps that do not vary the fraction get
``main_metric_by_cell.png``, a bar chart of the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from tod_lab.sweep.collect import SweepTable

FRACTION = "data_fraction"
PANEL_BY = "system"


def _label(row: pd.Series, params: list[str]) -> str:
    from tod_lab.sweep.collect import format_param

    return ", ".join(f"{p}={format_param(p, row[p])}" for p in params) or "all"


def _failed_fractions(failed: pd.DataFrame, like: pd.Series, params: list[str]) -> str:
    """The fractions at which the cells of this line all failed (no point drawn)."""
    from tod_lab.sweep.collect import format_param

    mask = pd.Series(True, index=failed.index)
    for p in params:
        mask &= failed[p] == like[p]
    return ", ".join(format_param(FRACTION, f) for f in sorted(failed[mask][FRACTION]))


def _panels(cells: pd.DataFrame, varied: list[str]) -> list[tuple[str, pd.DataFrame]]:
    keys = ([PANEL_BY] if PANEL_BY in varied else []) + ["main_metric"]
    panels = []
    for key, group in cells.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        panels.append((" / ".join(str(k) for k in key), group))
    return panels


def plot_main_metric(table: SweepTable, out_dir: Path, title: str = "") -> Path | None:
    """Write the main-metric plot of ``table`` to ``out_dir``; None when nothing finished."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = table.cells[(table.cells["n_finished"] > 0) & table.cells["main_metric"].notna()]
    if cells.empty:
        return None
    failed = table.cells[table.cells["n_finished"] == 0]
    by_fraction = FRACTION in table.varied
    line_params = [p for p in table.varied if p not in (FRACTION, PANEL_BY)]
    panels = _panels(cells, table.varied)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (panel_title, group) in zip(axes[0], panels, strict=True):
        # within a panel, label lines only by what varies there (the model is the
        # system's own in most sweeps)
        varied_here = [p for p in line_params if group[p].nunique(dropna=False) > 1]
        if by_fraction:
            lines = group.groupby(varied_here, sort=True) if varied_here else [("", group)]
            for _, line in lines:
                line = line.assign(_x=pd.to_numeric(line[FRACTION]) * 100).sort_values("_x")
                label = _label(line.iloc[0], varied_here)
                gaps = _failed_fractions(failed, line.iloc[0], line_params + (
                    [PANEL_BY] if PANEL_BY in table.varied else []))
                if gaps:
                    label += f" (failed at {gaps})"
                ax.errorbar(line["_x"], line["main_mean"], yerr=line["main_std"].fillna(0),
                            marker="o", capsize=3, label=label)
            ax.set_xscale("log")
            ax.set_xlabel("training data (%)")
            ticks = sorted(pd.to_numeric(group[FRACTION]).unique() * 100)
            ax.set_xticks(ticks, [f"{t:g}%" for t in ticks])
            ax.minorticks_off()
        else:
            labels = [_label(row, varied_here) for _, row in group.iterrows()]
            ax.bar(range(len(group)), group["main_mean"], yerr=group["main_std"].fillna(0),
                   capsize=3)
            ax.set_xticks(range(len(group)), labels, rotation=30, ha="right")
        ax.set_title(panel_title)
        ax.set_ylabel(str(group["main_metric"].iloc[0]))
        ax.grid(alpha=0.3)
        if by_fraction and (varied_here or not failed.empty):
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    name = "main_metric_vs_data_fraction.png" if by_fraction else "main_metric_by_cell.png"
    path = out_dir / name
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def read_curve(run_dir: Path, column: str = "train_loss") -> pd.DataFrame | None:
    """``step`` / ``column`` rows of the CSV logger's ``logs/metrics.csv`` (None if absent)."""
    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    candidates = [c for c in frame.columns if c == column or c.startswith(f"{column}_")]
    if "step" not in frame.columns or not candidates:
        return None
    curve = frame[["step", candidates[0]]].dropna()
    return curve.rename(columns={candidates[0]: column}) if len(curve) else None


def plot_demo(jobs: list[tuple[str, Path, str | None, float | None]], out: Path) -> Path:
    """The demo's figure: training loss of every job (left), then one panel per job with its
    main metric (systems report on different scales: JGA in [0, 1], Combined in points).

    ``jobs``: (label, run dir, main metric name, main metric value) per job.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(jobs), figsize=(5.5 + 2.6 * len(jobs), 4.2),
                             gridspec_kw={"width_ratios": [2.2] + [1] * len(jobs)},
                             squeeze=False)
    curves = axes[0][0]
    for label, run_dir, _, _ in jobs:
        curve = read_curve(run_dir)
        if curve is not None:
            curves.plot(curve["step"], curve["train_loss"], label=label)
    curves.set_xlabel("optimiser step")
    curves.set_ylabel("training loss")
    curves.set_title("training (toy corpus)")
    curves.grid(alpha=0.3)
    if curves.lines:
        curves.legend(fontsize="small")
    for ax, (label, _, metric, value) in zip(axes[0][1:], jobs, strict=True):
        ax.bar([0], [value or 0.0], color="tab:blue" if value is not None else "tab:red")
        ax.annotate("failed" if value is None else f"{value:.3g}", (0, value or 0.0),
                    ha="center", va="bottom")
        ax.set_xticks([0], [label])
        ax.set_title(metric or "failed", fontsize="medium")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
