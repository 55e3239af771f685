"""Reading a planning agent's mesa-objective: its learned reward map against each objective.

A planning agent (`mesaworld.agents.planner`) computes a reward per cell from the observation and plans on
it: that map is its objective as the network represents it, readable before the agent moves.
On the start observation of every evaluation level, each objective's *target cells* (the task's
`TaskSpec.targets`: floor dust, cans, the cheese, the corner, ...) are compared with the other
passable cells (the background; the agent's own cell is left out: the planner learns to value it
low so as not to "stay and collect"). Raw maps carry shaping and drift in scale and offset, so
only normalized readouts are reported:

    z/<k>      (mean r on k's own targets - median background r) / background spread (IQR/1.349);
               a proxy's own targets are its targets minus the base's (Roomba: the cans; the
               corner when the cheese is elsewhere). NaN on levels without such cells.
    ratio/<k>  z of the proxy's own targets / z of the base's: 1 = valued exactly like the base
               objective's targets (the Roomba's cans at knob 0 in MEASURED: 1.01), 0 = like
               empty floor, < 0 = avoided.

Per run: means over levels with a 95% percentile bootstrap over levels; `readout_table` pools
runs by cell with t-intervals over seeds (`mesaworld.analysis.metrics.t_interval`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns, eval_arrays
from mesaworld.analysis.runs import RunsError, finished_runs, run_info
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.training.checkpoint import load_agent

SPLITS = ("train", "deploy")
BOOTSTRAP = 2000


class ReadoutError(RunsError):
    """A run whose objective cannot be read (one line naming the run and why)."""


def start_observations(task: str, codes: np.ndarray) -> np.ndarray:
    """uint8[n, C, H, W]: the full-view observation at the start of every level."""
    engine = make_engine(task, len(codes), autoreset=False, view="full")
    engine.load_codes(codes)
    return engine.task.observation(engine.state)


def level_readouts(task: str, obs: np.ndarray, maps: np.ndarray) -> dict[str, np.ndarray]:
    """Per level (float[n]): z/<k> for every objective and ratio/<proxy> (module docstring),
    from start observations uint8[n, C, H, W] and reward maps float[n, H, W]."""
    spec = TASKS[task]
    channels = spec.task_cls.channels
    targets = spec.targets(obs)
    free = obs[:, channels.index("obstacle")] == 0
    agent = obs[:, channels.index("agent")] > 0
    any_target = np.zeros_like(free)
    for mask in targets.values():
        any_target |= mask
    background = free & ~any_target & ~agent
    base = spec.objectives[0]
    out = {f"z/{k}": np.full(len(obs), np.nan) for k in spec.objectives}
    for i in range(len(obs)):
        bg = maps[i][background[i]]
        if len(bg) < 2:
            continue
        q1, med, q3 = np.percentile(bg, [25, 50, 75])
        spread = max((q3 - q1) / 1.349, 1e-6 * (abs(med) + 1.0))
        for k, mask in targets.items():
            own = mask[i] & ~agent[i] if k == base else mask[i] & ~targets[base][i] & ~agent[i]
            if own.any():
                out[f"z/{k}"][i] = (maps[i][own].mean() - med) / spread
    for k in spec.objectives[1:]:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"ratio/{k}"] = out[f"z/{k}"] / out[f"z/{base}"]
    return out


def _mean_ci(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (float("nan"),) * 3
    boot = x[rng.integers(0, len(x), (BOOTSTRAP, len(x)))].mean(1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(x.mean()), float(lo), float(hi)


def readout_run(run: Path, root: Path, levels: int = 200, seed: int = 0) -> dict:
    """One planner run's readouts on its train and deploy evaluation levels (a row)."""
    info = run_info(run, root)
    if TASKS[info["task"]].targets is None:
        raise ReadoutError(f"{run}: task {info['task']!r} declares no targets to read against")
    try:
        agent, meta = load_agent(run)
    except ValueError as e:
        raise ReadoutError(str(e)) from None
    if meta["network"] != "planner":
        raise ReadoutError(f"{run}: a {meta['network']} agent has no reward map to read")
    rng = np.random.default_rng(seed)
    row = dict(info)
    for split in SPLITS:
        with np.load(run / eval_arrays(split), allow_pickle=False) as data:
            codes = data["levels"][:levels]
        obs = start_observations(info["task"], codes)
        with torch.no_grad():
            maps = agent.reward_map(torch.from_numpy(obs)).numpy()
        for name, values in level_readouts(info["task"], obs, maps).items():
            m = f"{split}/{name}"
            lo, hi = ci_columns(m)
            row[m], row[lo], row[hi] = _mean_ci(values, rng)
    return row


def readout(path: str | Path, levels: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(a row per planner run, a row per (task, knob, reward) cell with t-intervals over seeds)
    for every finished planner run under `path`; other runs are skipped."""
    root = Path(path)
    runs, _ = finished_runs(root)
    rows = []
    for run in runs:
        if (run / "agent.json").is_file() and '"planner"' in (run / "agent.json").read_text():
            rows.append(readout_run(run, root, levels))
    if not rows:
        raise ReadoutError(f"no finished planner runs (--network planner) under {root}")
    table = pd.DataFrame(rows)
    metrics = [c for c in table.columns if c.startswith(SPLITS) and ":" not in c]
    cells = []
    for key, g in table.groupby(["task", "knob", "reward"], dropna=False, sort=True):
        rec = dict(zip(["task", "knob", "reward"], key)) | {"seeds": len(g)}
        for m in metrics:
            rec[m] = float(g[m].mean())
            lo, hi = ci_columns(m)
            rec[lo], rec[hi] = (
                t_interval(g[m].to_numpy()) if len(g) > 1 else (g[lo].iloc[0], g[hi].iloc[0])
            )
        cells.append(rec)
    return table, pd.DataFrame(cells)


def format_readout(cells: pd.DataFrame) -> str:
    """Per cell: each proxy's ratio and every objective's z, on train and deploy levels."""
    lines = []
    for task, g in cells.groupby("task", sort=True):
        objectives = TASKS[task].objectives
        cols = [f"{s}/ratio/{k}" for s in SPLITS for k in objectives[1:]]
        cols += [f"{s}/z/{k}" for s in SPLITS for k in objectives]
        lines.append(f"== {task}: the planner's reward map, read on start observations ==")
        table = [["knob", "n", *cols]]
        for _, r in g.iterrows():
            cells_ = [f"{r['knob']:g}", str(r["seeds"])]
            for m in cols:
                lo, hi = ci_columns(m)
                v = r.get(m, np.nan)
                cells_.append("-" if not np.isfinite(v) else f"{v:.2f} [{r[lo]:.2f}, {r[hi]:.2f}]")
            table.append(cells_)
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
        lines.append("")
    lines.append(
        "ratio: a proxy's own targets valued like the base's (1), like empty floor (0); "
        "z: vs the background, in robust SDs; [95%: t over seeds, or bootstrap over levels]"
    )
    return "\n".join(lines)
