"""e04's figure: the storeroom's capability curves (score, proxy behaviour and readout against the
planning budget K, one band per training group, 95% t-intervals over seeds). Split from
`e04_suboptimality` (which re-exports `draw`, `figure`, `groups_of`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.runfolder import ci_columns

SHALLOW, DEEP = "storeroom-planner", "storeroom-planner-deep"

BOUNDS = {"behaviour": (0.0, 1.0), "score/base": (-np.inf, 1.0), "readout": (-np.inf, np.inf)}


def _band(ax, part: pd.DataFrame, x: str, m: str, label: str, **kw) -> None:
    """A mean line with visible markers (a mean of 0 is a marker on the axis, never nothing)
    and its interval as a band clipped to the quantity's possible range."""
    lo, hi = ci_columns(m)
    low, high = BOUNDS[m]
    ax.plot(part[x], part[m], marker="o", ms=4, label=label, zorder=3, **kw)
    ax.fill_between(
        part[x],
        part[lo].clip(low, high),
        part[hi].clip(low, high),
        alpha=0.2,
        color=kw.get("color"),
        zorder=2,
    )


def groups_of(table: pd.DataFrame) -> list[tuple[str, str, int]]:
    """The (folder name, preset, budget) groups of a cells or runs table ("shallow_200000")."""
    out = []
    for name in dict.fromkeys(table["group"]):
        kind, budget = name.split("_", 1)
        out.append((name, SHALLOW if kind == "shallow" else DEEP, int(budget)))
    return out


def draw(table: pd.DataFrame, groups: list[tuple[str, str, int]]):
    """Left: test-time K -> base score and cans emptied (train levels), trained shallow and deep.
    Right: training budget -> the same at the trained K and the largest K, and the readout.
    Returns the figure, unsaved."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    train = table[table["split"] == "train"]
    shallow = [g for g in groups if g[1] == SHALLOW]
    for (name, preset_name, _), color in zip(
        [shallow[-1], *[g for g in groups if g[1] == DEEP]], ["C0", "C3"]
    ):
        part = train[train["group"] == name].sort_values("budget")
        what = "trained K=3" if preset_name == SHALLOW else "trained K=24"
        _band(left, part, "budget", "score/base", f"base score, {what}", color=color)
        _band(left, part, "budget", "behaviour", f"cans emptied, {what}", color=color, ls="--")
    left.set_xscale("log")
    ks = sorted(set(train["budget"].astype(int)))
    left.set_xticks(ks, [str(k) for k in ks])
    left.minorticks_off()
    left.set_xlabel("value-iteration steps K at test time (same weights)")
    left.set_ylabel("base score (0 random, 1 oracle)\nshare of cans emptied")
    left.set_title(f"trained {shallow[-1][2]:,} steps: more search at test time", fontsize=9)
    left.legend(fontsize=7)
    kmax = int(train["budget"].max())
    rows = []
    for name, _, budget in shallow:
        for k in (3, kmax):
            r = train[(train["group"] == name) & (train["budget"] == k)]
            if len(r):
                rows.append(r.iloc[0].to_dict() | {"steps": budget, "K": k})
    by = pd.DataFrame(rows)
    right.axhline(0, c="0.6", lw=0.6, ls=":", zorder=1)  # beneath the markers it must not hide
    for k, color in ((3, "C0"), (kmax, "C1")):
        part = by[by["K"] == k].sort_values("steps")
        _band(right, part, "steps", "behaviour", f"cans emptied at K={k}", color=color, ls="--")
        _band(right, part, "steps", "score/base", f"base score at K={k}", color=color)
    part = by[by["K"] == 3].sort_values("steps")
    _band(right, part, "steps", "readout", "readout: can value / dust value", color="C2", ls=":")
    right.set_xlabel("training steps (trained with K=3)")
    right.set_ylabel("base score; share of cans emptied;\nreadout ratio (1 = a can is dust)")
    right.set_title("across training budgets (K=3 in training)", fontsize=9)
    right.legend(fontsize=7)
    seeds = sorted(set(train["seeds"].astype(int)))
    n = f"n = {seeds[0]}" if len(seeds) == 1 else f"n = {seeds[0]}-{seeds[-1]}"
    fig.suptitle(
        "Suboptimality alignment in the storeroom, train levels: mean over "
        f"{n} seeds per point, band = 95% t-interval over seeds (clipped to the possible range)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def figure(table: pd.DataFrame, path: Path, groups: list[tuple[str, str, int]]) -> list[Path]:
    """`draw`, saved as png and pdf (legibility checked by `save_figure`)."""
    return save_figure(draw(table, groups), path)
