"""Figures of the behavioral objective (`mesaworld.analysis.behavioral`): the reward-result gap as EPIC
distances, and reward maps of a deploy level."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.envs.registry import TASKS
from mesaworld.envs.render import rgb_from_codes, sprite_sheet

_COLOURS = ["#2b8a3e", "#c92a2a", "#1971c2", "#e8590c", "#7048e8"]


def _cell_name(rec: pd.Series) -> str:
    if rec["role"] == "trained":
        return f"{rec['agent']} knob {rec['knob']:g}" if np.isfinite(rec["knob"]) else rec["agent"]
    return f"{rec['agent']}\n({rec['role']})"


def epic_gap_figure(cells: pd.DataFrame, path: Path) -> list[Path]:
    """Per cell (PPO knob values first, then baselines), the EPIC distance of the recovered
    reward to each objective: mean over seeds with 95% t-intervals over seeds."""
    task = cells["task"].iloc[0]
    cells = cells.assign(_b=cells["role"] != "trained").sort_values(["_b", "knob", "agent"])
    objectives = [c[5:] for c in cells.columns if c.startswith("epic/") and ":" not in c]
    objectives = [o for o in objectives if cells[f"epic/{o}"].notna().any()]
    x = np.arange(len(cells))
    width = 0.8 / max(len(objectives), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(cells) + 1.5), 3.6))
    for j, (obj, colour) in enumerate(zip(objectives, _COLOURS)):
        mean = cells[f"epic/{obj}"].to_numpy(float)
        lo, hi = cells[f"epic/{obj}:lo"].to_numpy(float), cells[f"epic/{obj}:hi"].to_numpy(float)
        err = np.vstack(
            [np.where(np.isfinite(lo), mean - lo, 0), np.where(np.isfinite(hi), hi - mean, 0)]
        )
        ax.bar(
            x + (j - (len(objectives) - 1) / 2) * width,
            mean,
            width,
            yerr=err,
            capsize=2,
            color=colour,
            label=f"to {obj}" + (" (base)" if j == 0 else ""),
        )
    ax.set_xticks(x, [_cell_name(r) for _, r in cells.iterrows()], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("EPIC distance\n(recovered reward, objective)")
    ax.set_title(
        f"{task}: reward-result gap on deploy levels (IRL on behaviour; 0 = same goal)", fontsize=9
    )
    ax.legend(fontsize=7, frameon=False)
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
    axes[0].set_title("deploy level", fontsize=8)
    for ax, (title, reward) in zip(axes[1:], panels):
        values = reward_map(mdp, reward, 0)
        im = ax.imshow(
            np.ma.masked_invalid(values),
            cmap="coolwarm",
            vmin=-np.nanmax(np.abs(values)) if np.isfinite(values).any() else -1,
            vmax=np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1,
        )
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
        ax.set_title(textwrap.fill(title, 28), fontsize=7)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(
        f"{task}: best reward for stepping onto each cell\n(recovered rewards: up to shaping "
        "and scale)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return save_figure(fig, path)
