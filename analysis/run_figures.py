"""Figures of one run folder, made to be read by people at the size a README shows them.

visitation(run, path)   the first deploy levels with the agent's visit counts, headed by the
                        run (task, agent, knob, seed, training steps): one colour scale and its
                        bar for the counts, and a legend of what each tile is (the task's legend)
visitations(runs, paths)  the same for several runs on ONE colour scale (figures that are compared)
episode_gif(run, path)  the first deploy episode, scaled up, each frame headed by the step and
                        the running total of every objective (replayed from the recorded actions)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.runfolder import eval_arrays
from mesaworld.analysis.runs import run_info
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import TASKS
from mesaworld.envs.render import TILE, rgb_from_codes, save_gif, sprite_sheet

GIF_SCALE = 3  # 16-pixel tiles -> 48: a 9x9 room is 432 pixels wide


def _load(run_dir: Path, split: str):
    task = TASKS[run_info(run_dir, run_dir)["task"]]
    with np.load(run_dir / eval_arrays(split), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return task, arrays, sprite_sheet(task.task_cls.palette)


def _tile_legend(task, levels: np.ndarray) -> list[Patch]:
    """A patch per legend character that appears in `levels`, coloured like its sprite."""
    present = set(np.unique(levels).tolist())
    handles = []
    for ch, meaning in task.task_cls.legend.items():
        if ord(ch) not in present or ch not in task.task_cls.palette:
            continue
        bg, layers = task.task_cls.palette[ch]
        colour = np.array(layers[0][1] if layers else bg) / 255
        label = textwrap.shorten(f"'{ch}' {meaning}", 38, placeholder="...")
        handles.append(Patch(facecolor=colour, edgecolor="black", label=label))
    return handles


def _run_title(info: dict) -> str:
    """The run a figure shows: task, agent, knob, seed and training steps (baselines: role)."""
    if info["role"] != "trained":
        return f"{info['task']}, {info['agent']} ({info['role']} baseline, seed {info['seed']})"
    steps = int(info["total_steps"])
    steps_text = f"{steps / 1e6:.3g}M" if steps >= 100_000 else f"{steps:,}"
    return (
        f"{info['task']}, {info['agent']}, knob {info['knob']:g}, seed {info['seed']}, "
        f"{steps_text} training steps"
    )


def visitation(
    run_dir: Path, path: Path, split: str = "deploy", n: int = 4, top: int | None = None
) -> list[Path]:
    """The first `n` evaluation levels of `split`, each with the agent's visit counts over it:
    one colour scale (one Normalize for every level, up to `top` visits; default the most
    visits on these levels) and its colour bar."""
    run_dir = Path(run_dir)
    task, data, sheet = _load(run_dir, split)
    info = run_info(run_dir, run_dir)
    levels, visits = data["levels"], data["visits"]
    n = min(n, len(levels))
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n, 3.3), squeeze=False)
    top = max(1, int(visits[:n].max())) if top is None else int(top)
    if visits[:n].max() > top:
        raise ValueError(
            f"visitation: top={top} is below the most visits drawn ({visits[:n].max()})"
        )
    # One scale for every level: integer counts, each colour centred on its count.
    norm = Normalize(vmin=0.5, vmax=top + 0.5)
    image = None
    for i, ax in enumerate(axes[0]):
        h, w = levels[i].shape
        ax.imshow(rgb_from_codes(levels[i], sheet))
        v = visits[i].astype(float)
        image = ax.imshow(
            np.ma.masked_where(v == 0, v),
            cmap="magma_r",
            alpha=0.6,
            norm=norm,
            extent=(0, w * TILE, h * TILE, 0),
            interpolation="nearest",
        )
        ax.set_axis_off()
        ax.set_title(f"{split} level {i}", fontsize=9)
    bar = fig.colorbar(image, ax=axes[0].tolist(), fraction=0.025, pad=0.02)
    bar.set_label("visits to the cell in the episode (unvisited: no tint)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(
        handles=_tile_legend(task, levels[:n]),
        loc="lower center",
        ncol=4,
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.45, -0.04),
    )
    fig.suptitle(
        f"Where the agent went: {_run_title(info)}\none run, one episode per level, "
        f"the first {n} of its {len(levels)} {split} evaluation levels",
        fontsize=9,
    )
    return save_figure(fig, path)


def visitations(runs: list[Path], paths: list[Path], split: str = "deploy", n: int = 4) -> list:
    """`visitation` for several runs drawn on ONE colour scale (the most visits over all of
    them), so that figures set side by side compare: e.g. the README's knob 0 and 0.25 maps."""
    if len(runs) != len(paths):
        raise ValueError("visitations: one path per run")
    top = max(1, max(int(_load(Path(r), split)[1]["visits"][:n].max()) for r in runs))
    return [f for r, p in zip(runs, paths) for f in visitation(r, p, split, n, top=top)]


def _totals(task, level: np.ndarray, actions: np.ndarray) -> list[dict[str, float]]:
    """Running objective totals after each step of a recorded episode (first: all zero)."""
    engine = make_engine(task.name, 1, autoreset=False)
    engine.load_codes(level[None])
    totals = dict.fromkeys(task.objectives, 0.0)
    out = [dict(totals)]
    for a in actions[actions >= 0]:
        step = engine.step(np.array([a], np.int64))
        for k, name in enumerate(task.objectives):
            totals[name] += float(step["objectives"][k, 0])
        out.append(dict(totals))
    return out


def _header(width: int, text: list[str]) -> np.ndarray:
    font = ImageFont.load_default()
    img = Image.new("RGB", (width, 14 * len(text) + 6), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(text):
        draw.text((4, 3 + 14 * i), line, fill=(0, 0, 0), font=font)
    return np.asarray(img)


def episode_gif(run_dir: Path, path: Path, episode: int = 0) -> Path:
    """The agent's first deploy episode as a GIF with the step and objective totals on top."""
    task, data, sheet = _load(Path(run_dir), "deploy")
    frames = data[f"frames_{episode}"]
    totals = _totals(task, data["levels"][episode], data["actions"][episode])
    out = []
    for t, codes in enumerate(frames):
        board = rgb_from_codes(codes, sheet).repeat(GIF_SCALE, 0).repeat(GIF_SCALE, 1)
        sums = totals[min(t, len(totals) - 1)]
        lines = [f"{task.name} deploy level {episode}   step {t}/{len(frames) - 1}"]
        lines.append("  ".join(f"{k} {v:g}" for k, v in sums.items()))
        out.append(np.concatenate([_header(board.shape[1], lines), board]))
    return save_gif(out, Path(path).with_suffix(".gif"), fps=4)
