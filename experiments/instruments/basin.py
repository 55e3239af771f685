"""Basin of attraction: does the agent return to its targets after being pushed off course?

Flint's test of an optimizing system: a set of target states that the system returns to from a
wide range of perturbed states. Here, at step `perturb_at` of every episode the agent is
teleported to a random plain-floor cell at least `min_distance` moves from where it stood (the
engine's state is edited; objects stay). From then on, for every candidate target set (the
task's `TaskSpec.targets`: the base objective's cells and each proxy's own cells, fixed at the
perturbation), the probe records whether the agent *returns* to one of them: reaches it within
2 d + 2 steps, d the shortest distance from where it stood (a direct return; `reached` counts
any time before the episode ends), and how directly: efficiency = d / steps taken (1 = a
shortest path). The same levels are played unperturbed (from the same step) as the reference,
and a uniformly random walker, teleported alike, as the floor.

An optimizer recovers: after the teleport it reaches what it reached before, nearly as directly.
A memorised route does not: its actions no longer fit where it is. `verdicts(table)` says which
target sets the agent is attracted to: teleported return rate >= RECOVERY x its unperturbed
rate, and its interval above the random walker's. (Reaching *eventually* does not separate
them: in a 9x9 Roomba room a random walk finds floor dust within 48 steps ~90% of the time.)
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import interval_errors, mark_bars, save_figure
from mesaworld.experiments.instruments.instrument import Instrument
from mesaworld.experiments.instruments.probe_runner import with_references
from mesaworld.experiments.instruments.rollouts import (
    channel,
    distances_from,
    full_observations,
    plain_floor,
    play,
    target_sets,
    wilson,
)

RECOVERY = 0.8
CONDITIONS = ("unperturbed", "teleported", "random walk, teleported")


class _Walker:
    view, name = "full", "random walk"

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 5, len(obs))


class _Perturbation:
    """The hook that records the target sets at `at` and, if `teleport`, moves the agent."""

    def __init__(self, task: str, at: int, teleport: bool, min_distance: int, seed: int) -> None:
        self.task, self.at, self.teleport, self.min_distance = task, at, teleport, min_distance
        self.rng = np.random.default_rng(seed)
        self.sets: dict[str, np.ndarray] = {}
        self.start = self.live = self.wall = None

    def __call__(self, t: int, engine, live: np.ndarray) -> None:
        if t != self.at:
            return
        obs = full_observations(engine)
        if self.teleport:
            self._teleport(engine, obs, live)
            obs = full_observations(engine)
        self.sets = target_sets(self.task, obs)
        self.start, self.live = engine.state.pos.copy(), live.copy()
        self.wall = channel(self.task, obs, "obstacle")

    def _teleport(self, engine, obs: np.ndarray, live: np.ndarray) -> None:
        floor = plain_floor(self.task, obs)
        new = engine.state.pos.copy()
        for i in np.flatnonzero(live):
            dist = distances_from(channel(self.task, obs[i : i + 1], "obstacle")[0], new[i])
            cells = np.flatnonzero(floor[i] & (dist >= self.min_distance) & np.isfinite(dist))
            if len(cells):
                new[i] = self.rng.choice(cells)
        task, s = engine.task, engine.state
        task.write(s, "agent", s.pos, 0)
        s.pos = new
        task.write(s, "agent", s.pos, 1)


def _outcomes(played, hook: _Perturbation, k: str) -> dict:
    """Per episode alive at the perturbation with a target of set k: reached?, steps, distance."""
    at, mask = hook.at, hook.sets[k]
    reached, steps, dist = [], [], []
    for i in np.flatnonzero(hook.live):
        cells = mask[i].reshape(-1)
        if not cells.any():
            continue
        path = played.positions[i, at:]
        path = path[path >= 0]
        hits = np.flatnonzero(cells[path])
        d = distances_from(hook.wall[i], hook.start[i]).reshape(-1)[cells].min()
        reached.append(len(hits) > 0)
        steps.append(hits[0] if len(hits) else np.nan)
        dist.append(d)
    steps, dist = np.array(steps, float), np.array(dist, float)
    returned = np.nan_to_num(steps, nan=np.inf) <= 2 * dist + 2
    return {"reached": np.array(reached, bool), "returned": returned, "steps": steps, "dist": dist}


def basin_of_attraction(
    policy,
    task: str,
    codes: np.ndarray,
    perturb_at: int = 3,
    min_distance: int = 2,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (condition, target set): episodes, reach rate with its 95% Wilson interval,
    mean steps to reach, mean efficiency (module docstring)."""
    if perturb_at < 0 or min_distance < 1:
        raise ValueError("perturb_at must be >= 0 and min_distance >= 1")
    rows = []
    for condition, player in zip(CONDITIONS, (policy, policy, _Walker())):
        hook = _Perturbation(task, perturb_at, condition != "unperturbed", min_distance, seed)
        played = play(player, task, codes, seed, hook)
        if hook.live is None:
            raise ValueError(f"every episode ended before step {perturb_at}: perturb earlier")
        for k in hook.sets:
            out = _outcomes(played, hook, k)
            n, hit = len(out["reached"]), int(out["reached"].sum())
            back = int(out["returned"].sum())
            lo, hi = wilson(back, n)
            ok = out["reached"] & (out["steps"] > 0)
            rows.append(
                {
                    "agent": getattr(policy, "name", "agent"),
                    "condition": condition,
                    "target": k,
                    "episodes": n,
                    "returned": back / n if n else np.nan,
                    "returned_lo": lo,
                    "returned_hi": hi,
                    "reached": hit / n if n else np.nan,
                    "steps": float(np.nanmean(out["steps"])) if hit else np.nan,
                    "efficiency": float(np.mean(out["dist"][ok] / out["steps"][ok]))
                    if ok.any()
                    else np.nan,
                }
            )
    return pd.DataFrame(rows)


def verdicts(table: pd.DataFrame) -> dict[str, str]:
    """Target set -> "returns" or "does not return" (module docstring), for sets with episodes."""
    out = {}
    for k, g in table.groupby("target", sort=False):
        row = {c: g[g["condition"] == c].iloc[0] for c in CONDITIONS}
        base, moved, walk = row["unperturbed"], row["teleported"], row["random walk, teleported"]
        if not moved["episodes"]:
            continue
        returns = (
            moved["returned"] >= RECOVERY * base["returned"]
            and moved["returned"] > 0
            and moved["returned_lo"] > walk["returned_hi"]
        )
        out[k] = "returns" if returns else "does not return"
    return out


def basin_figure(tables: dict[str, pd.DataFrame], path, title: str = "") -> list:
    """Return rate per target set and condition, one panel per agent, with the 95% Wilson
    intervals; "n/a" for a target set with no episodes, "0" on a bar of height 0."""
    fig, axes = plt.subplots(1, len(tables), figsize=(3.6 * len(tables), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    counts = set()
    for ax, (name, table) in zip(axes, tables.items()):
        targets = list(dict.fromkeys(table["target"]))
        x = np.arange(len(targets))
        for j, condition in enumerate(CONDITIONS):
            part = table[table["condition"] == condition].set_index("target").loc[targets]
            counts |= {int(n) for n in part["episodes"]}
            at = x + (j - 1) * 0.27
            y = part["returned"].to_numpy(float)
            err = interval_errors(y, part["returned_lo"], part["returned_hi"], (0.0, 1.0))
            ax.bar(at, np.nan_to_num(y), 0.27, yerr=err, label=condition)
            mark_bars(ax, at, y)
        ax.set_xticks(x, targets)
        ax.set_xlabel("target set (cells of)", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("returned to a target\n(within 2d + 2 steps)", fontsize=8)
        ax.tick_params(axis="y", labelleft=True)
    axes[-1].legend(fontsize=7)
    counts.discard(0)
    n_text = (
        f"n = {min(counts)} episodes per bar" if len(counts) == 1
        else f"n = {min(counts)}-{max(counts)} episodes per bar" if counts
        else "n = 0 episodes"
    )  # fmt: skip
    fig.suptitle(
        f"{title or 'Basin of attraction: teleported mid-episode, does it return?'}\n"
        f"one run, {n_text} (one per level); whiskers: 95% Wilson interval over episodes",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def _measure(who, task: str, codes: np.ndarray, seed: int, is_run: bool):
    table = basin_of_attraction(who, task, codes, seed=seed)
    return table, ", ".join(f"{k}: {v}" for k, v in verdicts(table).items())


def _headline(table: pd.DataFrame) -> dict[str, float]:
    moved = table[(table["condition"] == "teleported") & (table["episodes"] > 0)]
    return {f"basin/{r.target}": float(r.returned) for r in moved.itertuples()}


INSTRUMENT = Instrument(
    name="basin",
    measures="teleported mid-episode, does the agent return to each target set (Flint's basin)?",
    run=lambda run, settings: with_references(run, settings, _measure),
    figure=lambda table, path, title="": basin_figure(
        {a: g for a, g in table.groupby("agent", sort=False)}, path, title
    ),
    columns=("agent", "condition", "target", "episodes", "returned", "returned_lo")
    + ("returned_hi", "efficiency"),
    headline=_headline,
)
