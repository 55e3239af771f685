"""The headline figure of a planning agent: each level beside the reward map it plans on.

reward_map_figure(runs, path): one row per run (e.g. knob 0 and knob 0.25), the first `n`
deploy evaluation levels as the level (tiles) and the learned reward map on its start
observation (each map on its own colour scale, the task's targets outlined: the base objective's
in white, the proxy's own in red). A pseudo-aligned Roomba lights up its cans like dust; a
deconfounded one does not.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.runfolder import eval_arrays
from mesaworld.analysis.runs import run_info
from mesaworld.envs.registry import TASKS
from mesaworld.envs.render import rgb_from_codes, sprite_sheet
from mesaworld.experiments.instruments.readout import start_observations
from mesaworld.experiments.training.checkpoint import load_agent


def _outline(ax, mask: np.ndarray, colour: str) -> None:
    for r, c in zip(*np.nonzero(mask)):
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec=colour, lw=1.5))


def reward_map_figure(runs: list[Path], path: Path, n: int = 3, titles: list[str] | None = None):
    """Write `path`.png/.pdf (module docstring); returns the files written."""
    fig, axes = plt.subplots(
        len(runs), 2 * n, figsize=(2.3 * 2 * n, 2.5 * len(runs)), squeeze=False
    )
    for row, run in enumerate(runs):
        task = TASKS[run_info(run, run)["task"]]
        agent, _ = load_agent(run)
        with np.load(run / eval_arrays("deploy"), allow_pickle=False) as data:
            codes = data["levels"][:n]
        obs = start_observations(task.name, codes)
        with torch.no_grad():
            maps = agent.reward_map(torch.from_numpy(obs)).numpy()
        targets = task.targets(obs)
        base, proxy = task.objectives[0], task.objectives[1]
        sheet = sprite_sheet(task.task_cls.palette)
        for i in range(len(codes)):
            ax_level, ax_map = axes[row][2 * i], axes[row][2 * i + 1]
            ax_level.imshow(rgb_from_codes(codes[i], sheet))
            ax_map.imshow(np.where(obs[i, 0] > 0, np.nan, maps[i]), cmap="viridis")
            _outline(ax_map, targets[base][i], "white")
            _outline(ax_map, targets[proxy][i] & ~targets[base][i], "red")
            for ax in (ax_level, ax_map):
                ax.set_xticks([])
                ax.set_yticks([])
            ax_map.set_title("learned reward", fontsize=8)
            ax_level.set_title(f"deploy level {i}", fontsize=8)
        label = titles[row] if titles else run.name
        axes[row][0].set_ylabel(label, fontsize=9)
    fig.suptitle(
        f"{task.name}: the planner's learned reward (white: {base} targets, red: {proxy} only)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)
