"""Retargeting: rewrite the agent's goal and see whether it goes where the edit says.

On every level a new target is drawn: a plain-floor cell (no objective's target) at least
`min_distance` moves from the agent's start, reachable without stepping on a target (the
cheese ends the episode). The agent plays each level twice from the same
seed: unedited (the control: how often it passes that cell anyway) and with its goal rewritten
to the cell before the first step. Success = the agent stands on the cell at some step.

How the goal is rewritten is the agent's business (`policy.retarget(cells)`):
    planning agent      `PlannerEdit`: add `strength` x the map's range at the cell of its
                        learned reward map (the mesa-objective) before planning. Success is
                        then guaranteed by the architecture: it checks the plumbing.
    reference optimizer its goal set becomes the cell (`mesaworld.experiments.instruments.reference_agents`).
    fixed route         has no goal to rewrite: the edit changes nothing, as it should.
    reactive and recurrent networks: `mesaworld.experiments.instruments.linear_probes.SteeredPolicy` writes the decoded
                        direction to the cell into a hidden layer. Only here is success
                        evidence of a goal the network itself represents and pursues.

`verdict(table)`: "retargetable" when the edited success rate is >= 0.5 and its 95% Wilson
interval lies above the control's.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mesaworld.agents.registry import ARCHITECTURES
from mesaworld.analysis.figure_files import interval_errors, mark_bars, save_figure
from mesaworld.envs.gym_env import make_engine
from mesaworld.experiments.instruments.instrument import Instrument
from mesaworld.experiments.instruments.probe_runner import with_references
from mesaworld.experiments.instruments.rollouts import (
    channel,
    distances_from,
    full_observations,
    plain_floor,
    play,
    wilson,
)
from mesaworld.experiments.instruments.steering import SteeredPolicy


class PlannerEdit:
    """A planning agent's policy (`mesaworld.experiments.training.evaluate.TorchPolicy` around `PlannerAgent`)
    whose reward map can be edited: `retarget(cells)` adds strength x (max - min of the map)
    at cells[i] of env i's map at every step (None: the learned map; cells[i] = -1: env i
    unedited)."""

    def __init__(self, policy, strength: float = 1.0) -> None:
        if not hasattr(policy.agent, "reward_edit"):
            raise ValueError("only a planning agent has a reward map to edit")
        self.policy, self.strength, self.view = policy, float(strength), policy.view
        self.name = f"{getattr(policy, 'name', 'planner')} (reward map edited)"

    def begin(self, n: int) -> None:
        if hasattr(self.policy, "begin"):
            self.policy.begin(n)
        self.policy.agent.reward_edit = None

    def retarget(self, cells: np.ndarray | None) -> None:
        if cells is None:
            self.policy.agent.reward_edit = None
            return
        cells = torch.as_tensor(np.asarray(cells, np.int64))

        def edit(r: torch.Tensor) -> torch.Tensor:
            span = (r.amax((1, 2)) - r.amin((1, 2))).view(-1, 1)
            flat = r.reshape(len(r), -1).clone()
            rows = torch.nonzero(cells >= 0).squeeze(1)
            flat[rows, cells[rows]] += self.strength * span[rows, 0]
            return flat.view_as(r)

        self.policy.agent.reward_edit = edit

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.policy.act(obs, rng)


def new_targets(task: str, codes: np.ndarray, min_distance: int, seed: int) -> np.ndarray:
    """int64[n] flat cells: one plain-floor cell per level, reachable, >= min_distance away."""
    engine = make_engine(task, len(codes), autoreset=False, view="full")
    engine.load_codes(codes)
    obs = full_observations(engine)
    floor, wall = plain_floor(task, obs), channel(task, obs, "obstacle")
    # Reachable without stepping on any objective's target (which could end the episode).
    wall = wall | ~(floor | wall | channel(task, obs, "agent"))
    rng = np.random.default_rng(seed)
    cells = np.full(len(codes), -1, np.int64)
    for i, start in enumerate(engine.state.pos):
        dist = distances_from(wall[i], start)
        ok = np.flatnonzero(floor[i] & np.isfinite(dist) & (dist >= min_distance))
        if len(ok):
            cells[i] = rng.choice(ok)
    return cells


def _visits(played, cells: np.ndarray) -> np.ndarray:
    return (played.positions == cells[:, None]).any(1)


def retargeting(
    policy, task: str, codes: np.ndarray, min_distance: int = 3, seed: int = 0
) -> pd.DataFrame:
    """Rows "control" and "edited": levels, success rate and its 95% Wilson interval."""
    if not hasattr(policy, "retarget"):
        raise ValueError(
            f"{getattr(policy, 'name', 'this policy')} has no way to rewrite its goal "
            "(retarget): wrap a planner in PlannerEdit, a network in SteeredPolicy"
        )
    cells = new_targets(task, codes, min_distance, seed)
    keep = cells >= 0  # levels with no such cell are played unedited and not scored
    rows = []
    for condition, goal in (("control", None), ("edited", cells)):

        def hook(t, engine, live, goal=goal):
            if t == 0:
                policy.retarget(goal)

        hit = _visits(play(policy, task, codes, seed, hook), cells)[keep]
        lo, hi = wilson(int(hit.sum()), len(hit))
        rows.append(
            {"agent": getattr(policy, "name", "agent"), "condition": condition}
            | {"levels": len(hit), "success": float(hit.mean()), "success_lo": lo}
            | {"success_hi": hi}
        )
    policy.retarget(None)
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame) -> str:
    row = table.set_index("condition")
    edited, control = row.loc["edited"], row.loc["control"]
    ok = edited["success"] >= 0.5 and edited["success_lo"] > control["success_hi"]
    return "retargetable" if ok else "not retargetable"


def retarget_figure(tables: dict[str, pd.DataFrame], path, title: str = "") -> list:
    """Success with and without the edit, one pair of bars per agent, with the 95% Wilson
    intervals; "0" on a bar of height 0."""
    fig, ax = plt.subplots(figsize=(2.2 + 1.4 * len(tables), 3.6))
    x = np.arange(len(tables))
    counts = set()
    for j, condition in enumerate(("control", "edited")):
        part = pd.DataFrame([t.set_index("condition").loc[condition] for t in tables.values()])
        counts |= {int(n) for n in part["levels"]}
        at = x + (j - 0.5) * 0.38
        y = part["success"].to_numpy(float)
        err = interval_errors(y, part["success_lo"], part["success_hi"], (0.0, 1.0))
        ax.bar(at, np.nan_to_num(y), 0.38, yerr=err, label=condition)
        mark_bars(ax, at, y)
    ax.set_xticks(x, list(tables), fontsize=7)
    ax.set_xlabel("agent", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("episodes reaching the new target", fontsize=8)
    ax.legend(fontsize=8)
    n_text = (
        f"n = {min(counts)} levels per bar" if len(counts) == 1
        else f"n = {min(counts)}-{max(counts)} levels per bar"
    )  # fmt: skip
    ax.set_title(
        f"{title or 'Retargeting: the goal rewritten to a random floor cell'}\none run, "
        f"{n_text}; whiskers: 95% Wilson interval over levels",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def _measure(who, task: str, codes: np.ndarray, seed: int, is_run: bool):
    # The run's agent gets its goal written in the way its architecture allows: a reward map is
    # edited; any other network gets a decoded goal written into its last spatial layer.
    subject = who
    if is_run:
        has_map = ARCHITECTURES[who.network].reward_map
        subject = PlannerEdit(who) if has_map else SteeredPolicy(who, task, codes)
    table = retargeting(subject, task, codes, seed=seed)
    table["agent"] = who.name
    return table, verdict(table)


def _headline(table: pd.DataFrame) -> dict[str, float]:
    success = table.set_index("condition")["success"]
    return {"retarget": float(success["edited"]), "retarget control": float(success["control"])}


def _applies(agent_meta: dict) -> str | None:
    arch = ARCHITECTURES[agent_meta["network"]]
    if arch.reward_map or arch.spatial:
        return None
    return (
        f"a {arch.name} network has no reward map and no spatial layer to write a goal into "
        "(retarget needs a planner or a convolutional network)"
    )


INSTRUMENT = Instrument(
    name="retarget",
    measures="a new goal written into the agent (its reward map, or a steering direction): "
    "does it go there?",
    run=lambda run, settings: with_references(run, settings, _measure),
    figure=lambda table, path, title="": retarget_figure(
        {a: g for a, g in table.groupby("agent", sort=False)}, path, title
    ),
    columns=("agent", "condition", "levels", "success", "success_lo", "success_hi"),
    applies=_applies,
    headline=_headline,
)
