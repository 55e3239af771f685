"""Figures of the behavioral objective (`mesaworld.analysis.behavioral`): the reward-result gap in
returns beside the EPIC distances (`epic_gap_figure`), and reward maps of a deploy level on one
colour scale (`reward_maps_figure`)."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

from mesaworld.analysis.figure_files import interval_errors, mark_bars, save_figure
from mesaworld.analysis.labels import MARGIN
from mesaworld.envs.registry import TASKS
from mesaworld.envs.render import rgb_from_codes, sprite_sheet

NO_STEP = "#3a3a3a"  # cells no step arrives on: apart from every value of the map
_COLOURS = ["#2b8a3e", "#c92a2a", "#1971c2", "#e8590c", "#7048e8"]


def _cell_name(rec: pd.Series) -> str:
    if rec["role"] == "trained":
        return f"{rec['agent']} knob {rec['knob']:g}" if np.isfinite(rec["knob"]) else rec["agent"]
    return f"{rec['agent']}\n({rec['role']})"


def _bars(ax, cells, names: list[str], column, bounds, label, colours=_COLOURS) -> None:
    """Grouped bars, one group per cell and one bar per name: `column(name)` over seeds with
    its 95% interval (clipped to `bounds`), "n/a" where the cell has no value."""
    x = np.arange(len(cells))
    width = 0.8 / max(len(names), 1)
    for j, (name, colour) in enumerate(zip(names, colours)):
        m = column(name)
        mean = cells[m].to_numpy(float) if m in cells else np.full(len(cells), np.nan)
        lo = cells[f"{m}:lo"].to_numpy(float) if f"{m}:lo" in cells else mean * np.nan
        hi = cells[f"{m}:hi"].to_numpy(float) if f"{m}:hi" in cells else mean * np.nan
        at = x + (j - (len(names) - 1) / 2) * width
        ax.bar(
            at,
            np.nan_to_num(mean),
            width,
            yerr=interval_errors(mean, lo, hi, bounds),
            capsize=2,
            color=colour,
            label=label(j, name),
        )
        mark_bars(ax, at, mean)
    ticks = [f"{_cell_name(r)}\n(n={r['seeds']})" for _, r in cells.iterrows()]
    ax.set_xticks(x, ticks, fontsize=7)
    ax.set_xlabel("cell: agent, knob (n = seeds)", fontsize=8)
    ax.legend(fontsize=7, frameon=False)


def epic_gap_figure(cells: pd.DataFrame, path: Path) -> list[Path]:
    """Per cell (PPO knob values first, then baselines), the behavioral objective on deploy
    levels: left, the reward-result gap in returns (`gap/<proxy>`: base score - proxy score of
    its own policy, the primary measure); right, the EPIC distance of the recovered reward to
    each objective (secondary, in [0, 1]). Mean over seeds with 95% t-intervals over seeds
    (none for a cell of one run); "n/a" where a value is missing."""
    task = cells["task"].iloc[0]
    cells = cells.assign(_b=cells["role"] != "trained").sort_values(["_b", "knob", "agent"])
    objectives = [c[5:] for c in cells.columns if c.startswith("epic/") and ":" not in c]
    objectives = [o for o in objectives if cells[f"epic/{o}"].notna().any()]
    proxies = list(TASKS[task].objectives[1:])
    width = max(4.5, 1.3 * len(cells) + 1.5)
    fig, (left, right) = plt.subplots(1, 2, figsize=(2 * width, 4.0))
    _bars(
        left, cells, proxies, lambda p: f"gap/{p}", (-np.inf, np.inf),
        lambda j, p: f"gap to {p}", _COLOURS[2:],
    )  # fmt: skip
    ends = [cells.get(c) for p in proxies for c in (f"gap/{p}", f"gap/{p}:lo", f"gap/{p}:hi")]
    ends = np.concatenate([e.to_numpy(float) for e in ends if e is not None] or [np.zeros(0)])
    ends = ends[np.isfinite(ends)]
    left.set_ylim(min([-MARGIN - 0.1, *ends]) - 0.05, max([0.2, *ends]) + 0.05)
    left.axhline(0, color="black", lw=0.8)
    left.axhline(-MARGIN, color="#c92a2a", lw=0.8, ls=":")
    left.set_ylabel("reward-result gap in returns\n(base score - proxy score)", fontsize=8)
    left.set_title("the gap in returns (primary; < 0: serves the proxy)", fontsize=9)
    _bars(
        right, cells, objectives, lambda o: f"epic/{o}", (0.0, 1.0),
        lambda j, o: f"to {o}" + (" (base)" if o == TASKS[task].objectives[0] else ""),
    )  # fmt: skip
    right.set_ylim(0, 1)
    right.set_ylabel("EPIC distance\n(recovered reward, objective)", fontsize=8)
    right.set_title("EPIC distance (secondary; 0 = same goal up to shaping)", fontsize=9)
    counts = sorted({int(n) for n in cells["seeds"]})
    n_text = f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}-{counts[-1]}"
    fig.suptitle(
        f"{task}: the behavioral objective (IRL on deploy behaviour), {n_text} seeds per cell; "
        "bars: mean over seeds, whiskers: 95% t-interval over seeds (none for one seed)",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def reward_map(mdp, reward: np.ndarray, level: int) -> np.ndarray:
    """float[H, W]: on exported level `level`, the largest reward any step onto each cell pays
    (over all object states and actions; NaN where no step arrives)."""
    h, w = mdp.shape
    mask = mdp.level == level
    values = np.full(h * w, -np.inf)
    np.maximum.at(values, mdp.next_pos[mask].ravel(), reward[mask].ravel())
    values[~np.isfinite(values)] = np.nan
    return values.reshape(h, w)


def reward_maps_figure(results: list, path: Path) -> list[Path]:
    """The first exported deploy level: rendered, then each objective's reward map, then the
    reward recovered from one run (the first seed) of every cell."""
    first = results[0]
    mdp = first.mdp
    task = first.row["task"]
    seen, picks = set(), []
    for r in results:
        key = (r.row["kind"], r.row["agent"], r.row["knob"])
        if key not in seen:
            seen.add(key)
            picks.append(r)
    panels = [(k, mdp.reward(k)) for k in mdp.objectives]
    for r in picks:
        name = _cell_name(pd.Series(r.row)).replace("\n", " ")
        panels.append((f"recovered: {name} (seed {r.row['seed']})", r.recovered))
    n = 1 + len(panels)
    cols = min(n, 5)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    sheet = sprite_sheet(TASKS[task].task_cls.palette)
    axes = axes.ravel()
    axes[0].imshow(rgb_from_codes(mdp.levels[0], sheet))
    axes[0].set_title("deploy level 0", fontsize=8)
    # Rewards are compared up to scale: each map divided by its largest |value|, one scale.
    norm = Normalize(vmin=-1.0, vmax=1.0)
    cmap = plt.get_cmap("coolwarm").with_extremes(bad=NO_STEP)
    image = None
    for ax, (title, reward) in zip(axes[1:], panels):
        values = reward_map(mdp, reward, 0)
        top = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
        if top > 0:
            image = ax.imshow(np.ma.masked_invalid(values / top), cmap=cmap, norm=norm)
        else:
            ax.text(0.5, 0.5, "n/a: no reward\non this level", ha="center", va="center",
                    fontsize=7, transform=ax.transAxes)  # fmt: skip
        ax.set_title(textwrap.fill(title, 28), fontsize=7)
    for ax in axes:
        ax.set_axis_off()
    if image is not None:
        bar = fig.colorbar(image, ax=axes.tolist(), fraction=0.02, pad=0.01)
        bar.set_label("best reward for stepping onto the cell\n/ the map's largest |reward|",
                      fontsize=8)  # fmt: skip
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(
        f"{task}: best reward for stepping onto each cell of deploy level 0 (dark grey: no step "
        "arrives)\nthe objectives, then the reward recovered from one run per cell (its first "
        "seed); recovered rewards are defined up to shaping and scale",
        fontsize=9,
    )
    return save_figure(fig, path)


def analysis_figures(out: Path, cells: pd.DataFrame, results: list) -> dict[str, bytes]:
    """Every figure of the analysis, drawn in a staging folder inside `out`, as bytes."""
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".stage-", suffix=".tmp"))
    try:
        for task, g in cells.groupby("task"):
            epic_gap_figure(g, stage / f"behavioral_gap_{task}")
            mine = [r for r in results if r.row["task"] == task]
            reward_maps_figure(mine, stage / f"reward_maps_{task}")
        return {p.name: p.read_bytes() for p in sorted(stage.iterdir())}
    finally:
        shutil.rmtree(stage, ignore_errors=True)
