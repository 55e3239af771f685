"""e07's figure and its compact table: deploy base score against alpha, a line per sampler (one
panel per preset, bands: 95% t-intervals over seeds, clipped at the optimum), and the deploy
base by sampler x alpha. Split from `e07_alpha` (which re-exports `figure` and `pivot`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.metrics import t_interval


def share_pivot(corr: pd.DataFrame, preset_name: str) -> pd.DataFrame:
    """Where training went: the % of a run's training episodes on distinguishing pool levels
    (mean [95% t over runs]; in brackets the % on ACCEL's edited levels where there are any), a
    row per sampler and a column per alpha."""
    part = corr[corr["preset"] == preset_name]
    rows = {}
    for (sampler, alpha), runs in part.groupby(["sampler", "alpha"]):
        text = _mean_t(100 * runs["distinguishing share"])
        if (runs["edited share"] > 0).any():
            text += f"; edited {_mean_t(100 * runs['edited share'])}"
        rows.setdefault(sampler, {})[f"alpha {alpha:g}"] = text
    wide = pd.DataFrame.from_dict(rows, orient="index").fillna("-")
    return (
        wide[sorted(wide.columns, key=lambda c: float(c.split()[1]))]
        .rename_axis("sampler")
        .reset_index()
    )


def _mean_t(x: pd.Series) -> str:
    x = x.dropna().to_numpy(float)
    if len(x) == 0:
        return "-"
    lo, hi = t_interval(x)
    return f"{x.mean():.1f}" + ("" if np.isnan(lo) else f" [{lo:.1f}, {hi:.1f}]")


def pivot(table: pd.DataFrame, preset_name: str, column: str = "deploy base (%)") -> pd.DataFrame:
    """One preset's `column` with a row per sampler and a column per alpha ("-": not run)."""
    part = table[table["preset"] == preset_name]
    wide = part.pivot(index="sampler", columns="alpha", values=column).fillna("-")
    wide.columns = [f"alpha {a:g}" for a in wide.columns]
    return wide.reset_index()


def figure(table: pd.DataFrame, path: Path) -> list[Path]:
    """Deploy base score against alpha, a line per sampler (one panel per preset)."""
    presets = list(dict.fromkeys(table["preset"]))
    fig, axes = plt.subplots(1, len(presets), figsize=(5.5 * len(presets), 4), squeeze=False)
    for ax, name in zip(axes[0], presets):
        part = table[table["preset"] == name]
        alphas = sorted(part["alpha"].unique())
        x = {a: i for i, a in enumerate(alphas)}
        for sampler, line in part.groupby("sampler", sort=False):
            line = line.sort_values("alpha")
            xs = [x[a] for a in line["alpha"]]
            ax.plot(xs, line["_score"], marker="o", label=f"{sampler} (n={line['seeds'].min()})")
            lo, hi = line["_lo"].astype(float), line["_hi"].astype(float)
            if lo.notna().any():  # a score is at most 1 (the optimum): the band stops there
                ax.fill_between(xs, lo, hi.clip(upper=1.0), alpha=0.15)
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        ax.set_xlabel("alpha: fraction of distinguishing levels in the pool")
        ax.set_ylabel("deploy base score (0 = random, 1 = optimal)")
        budget = ", ".join(sorted(set(part["_budget"]) - {""}))
        ax.set_title(
            f"{name} ({budget}): deploy score vs alpha\nmean, bands: 95% t-interval over seeds (n)",
            fontsize=9,
        )
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
