"""The headline figure of a planning agent: each level beside the reward map it plans on.

reward_map_figure(runs, path): one row per run (e.g. knob 0 and knob 0.25), headed by its task,
knob, seed, training steps and thinking budget (K), the first `n` deploy evaluation levels as
the level (tiles) and the learned reward map on its start observation. Raw maps drift in offset
and scale (readout.py), so every map is drawn in the readout's units, on one colour scale for
the whole figure: 0 = the map's median free floor cell, 1 = its mean over the base objective's
targets. The targets are outlined (the base objective's in white, the proxy's own in red) and
obstacles are drawn grey, apart from every value. A pseudo-aligned Roomba lights up its cans
like dust; a deconfounded one does not.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import Normalize
from matplotlib.patches import Patch

from mesaworld.agents.registry import ARCHITECTURES
from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.runfolder import eval_arrays
from mesaworld.analysis.runs import run_info
from mesaworld.envs.registry import TASKS
from mesaworld.envs.render import rgb_from_codes, sprite_sheet
from mesaworld.experiments.instruments.readout import start_observations
from mesaworld.experiments.training.checkpoint import load_agent

OBSTACLE = "#8c8c8c"  # not in viridis, not white like the base-target outline


def _outline(ax, mask: np.ndarray, colour: str) -> None:
    for r, c in zip(*np.nonzero(mask)):
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec=colour, lw=1.5))


def normalized_map(task: str, obs: np.ndarray, reward: np.ndarray) -> np.ndarray:
    """float[H, W]: one start observation's (uint8[C, H, W]) reward map in the readout's units,
    0 = the median free floor cell (no objective's target, not the agent), 1 = the mean over the
    base objective's targets; NaN on obstacles, and everywhere when the level has no base target
    or the targets are not above the floor (no unit to draw in)."""
    spec = TASKS[task]
    channels = spec.task_cls.channels
    targets = spec.targets(obs[None])
    obstacle = obs[channels.index("obstacle")] > 0
    agent = obs[channels.index("agent")] > 0
    any_target = np.zeros_like(obstacle)
    for mask in targets.values():
        any_target |= mask[0]
    floor = ~obstacle & ~any_target & ~agent
    base = targets[spec.objectives[0]][0] & ~agent
    out = np.full(reward.shape, np.nan)
    if not floor.any() or not base.any():
        return out
    zero = float(np.median(reward[floor]))
    unit = float(reward[base].mean()) - zero
    if unit <= 1e-9 * (abs(zero) + 1.0):
        return out
    return np.where(obstacle, np.nan, (reward - zero) / unit)


def _row_title(run: Path, agent, network: str) -> str:
    info = run_info(run, run)
    arch = ARCHITECTURES[network]
    budget = f", K = {getattr(agent, arch.budget)}" if arch.budget else ""
    steps = int(info["total_steps"])
    steps = f"{steps / 1e6:.3g}M" if steps >= 100_000 else f"{steps:,}"
    reward = "" if info["reward"] == TASKS[info["task"]].task_cls.reward else f", {info['reward']}"
    return (
        f"{info['task']}, knob {info['knob']:g}, seed {info['seed']}{reward}\n{steps} steps{budget}"
    )


def reward_map_figure(runs: list[Path], path: Path, n: int = 3) -> list[Path]:
    """Write `path`.png/.pdf (module docstring); returns the files written."""
    fig, axes = plt.subplots(
        len(runs), 2 * n, figsize=(2.3 * 2 * n, 2.6 * len(runs) + 0.6), squeeze=False
    )
    rows, values = [], []
    for run in runs:
        task = TASKS[run_info(run, run)["task"]]
        agent, meta = load_agent(run)
        with np.load(run / eval_arrays("deploy"), allow_pickle=False) as data:
            codes = data["levels"][:n]
        obs = start_observations(task.name, codes)
        with torch.no_grad():
            maps = agent.reward_map(torch.from_numpy(obs)).numpy()
        shown = [normalized_map(task.name, obs[i], maps[i]) for i in range(len(codes))]
        values += [m[np.isfinite(m)] for m in shown]
        rows.append((run, task, agent, meta, codes, obs, shown))
    finite = np.concatenate(values) if values else np.zeros(0)
    low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    # One scale for the whole figure, always showing floor (0) and base targets (1).
    norm = Normalize(vmin=min(float(low), 0.0), vmax=max(float(high), 1.0))
    cmap = plt.get_cmap("viridis").with_extremes(bad=OBSTACLE)
    image = None
    for row, (run, task, agent, meta, codes, obs, shown) in enumerate(rows):
        targets = task.targets(obs)
        base, proxy = task.objectives[0], task.objectives[1]
        sheet = sprite_sheet(task.task_cls.palette)
        for i in range(len(codes)):
            ax_level, ax_map = axes[row][2 * i], axes[row][2 * i + 1]
            ax_level.imshow(rgb_from_codes(codes[i], sheet))
            if np.isfinite(shown[i]).any():
                image = ax_map.imshow(np.ma.masked_invalid(shown[i]), cmap=cmap, norm=norm)
            else:  # no unit to draw this map in: say so, not a blank map
                h, w = shown[i].shape
                ax_map.set_xlim(-0.5, w - 0.5)
                ax_map.set_ylim(h - 0.5, -0.5)
                ax_map.set_aspect("equal")
                ax_map.set_axis_off()
                ax_map.text(
                    0.5, 0.5, "n/a: no base target\nabove the floor", ha="center",
                    va="center", fontsize=7, transform=ax_map.transAxes,
                )  # fmt: skip
            _outline(ax_map, targets[base][i], "white")
            _outline(ax_map, targets[proxy][i] & ~targets[base][i], "red")
            for ax in (ax_level, ax_map):
                ax.set_xticks([])
                ax.set_yticks([])
            ax_map.set_title("learned reward", fontsize=8)
            ax_level.set_title(f"deploy level {i}", fontsize=8)
        axes[row][0].set_ylabel(_row_title(run, agent, meta["network"]), fontsize=8)
    if image is not None:
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01, extend="both")
        bar.set_label("learned reward\n(0 = median floor cell, 1 = base targets)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    handles = [
        Patch(facecolor="none", edgecolor="white", label=f"{base} targets (outline)"),
        Patch(facecolor="none", edgecolor="red", label=f"{proxy} only (outline)"),
        Patch(facecolor=OBSTACLE, edgecolor="black", label="obstacle (no value)"),
    ]
    legend = fig.legend(
        handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=True,
        facecolor="#d0d0d0", bbox_to_anchor=(0.45, -0.01),
    )  # fmt: skip
    legend.get_frame().set_edgecolor("none")
    fig.suptitle(
        f"{rows[0][1].name}: the planner's learned reward on its start observation "
        f"(one run per row, the first {len(rows[0][4])} deploy levels)",
        fontsize=10,
    )
    return save_figure(fig, path)
