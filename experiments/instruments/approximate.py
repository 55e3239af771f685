"""Approximate alignment: where a planning agent's mesa-objective is wrong on its *training*
levels, and whether that error costs anything there.

The readout (`mesaworld.experiments.instruments.readout`) compares the learned reward map with each objective's target
cells. Here, per run and split (train first):

    auc/base     P(map at a base-target cell > map at a background cell), the two drawn at
                 random on the same start observation (ties count 1/2): 1 = the map orders every
                 base target above every other free cell, 0.5 = no better than chance.
    ratio/<k>    the readout: a proxy's own cells valued like base targets (1) or floor (0);
                 NaN where the levels hold no such cells (the Roomba's train levels at knob 0).
    score/<map>  the base score ((return - random) / (optimum - random)) of the *same* planner
                 (same weights, same K) planning on three maps, rewritten at every step:
                   learned   its own map (the agent as trained)
                   no proxy  each proxy's own cells set to the background median: the error
                             that the readout reads, removed
                   exact     every base target at the map's mean base-target value, every other
                             cell at the background median: the base objective exactly, in the
                             map's own units (shaping and every other error removed)
    cost/<map>   score/<map> - score/learned: what removing that error gains (> 0: the error
                 costs the agent that much on these levels; < 0: the "error" helps it, e.g.
                 local shaping that a short plan needs).

approximate_row(run, levels) returns one row; the experiment (`e06_approximate`) pools runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mesaworld.analysis.metrics import episode_scores
from mesaworld.analysis.runfolder import eval_arrays, read_config
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.instruments.readout import ReadoutError, readout_run, start_observations
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.evaluate import (
    EvalSettings,
    RandomPolicy,
    TorchPolicy,
    evaluate,
)

MAPS = ("learned", "no proxy", "exact")
SPLITS = ("train", "deploy")


def _masks(task: str, obs: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(each objective's own target cells, background cells) per env, flattened [n, H*W]."""
    spec = TASKS[task]
    ch = spec.task_cls.channels
    targets = spec.targets(obs)
    base = spec.objectives[0]
    free = obs[:, ch.index("obstacle")] == 0
    agent = obs[:, ch.index("agent")] > 0
    anyt = np.zeros_like(free)
    for m in targets.values():
        anyt |= m
    own = {k: (m if k == base else m & ~targets[base]) & ~agent for k, m in targets.items()}
    flat = {k: m.reshape(len(obs), -1) for k, m in own.items()}
    return flat, (free & ~anyt & ~agent).reshape(len(obs), -1)


def _median(r: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
    """Per row: the median of r over mask (0 where empty)."""
    masked = torch.where(torch.from_numpy(mask), r, torch.full_like(r, float("nan")))
    return torch.nan_to_num(masked.nanmedian(1).values, nan=0.0)


class MapFix:
    """A planning agent's policy whose reward map is corrected before each plan (module
    docstring: "no proxy" or "exact")."""

    def __init__(self, agent: torch.nn.Module, task: str, kind: str) -> None:
        if kind not in MAPS[1:]:
            raise ValueError(f"kind must be one of {MAPS[1:]}, got {kind!r}")
        self.inner, self.task, self.kind = TorchPolicy(agent, "full"), task, kind
        self.view, self.name = "full", f"planner ({kind} map)"
        self.base = TASKS[task].objectives[0]

    def begin(self, n: int) -> None:
        self.inner.begin(n)

    def _edit(self, obs: np.ndarray):
        own, background = _masks(self.task, obs)

        def edit(r: torch.Tensor) -> torch.Tensor:
            flat = r.reshape(len(r), -1).clone()
            med = _median(flat, background).view(-1, 1)
            if self.kind == "no proxy":
                for k, m in own.items():
                    if k != self.base:
                        cells = torch.from_numpy(m)
                        flat = torch.where(cells, med.expand_as(flat), flat)
                return flat.view_as(r)
            base = torch.from_numpy(own[self.base])
            n_base = base.sum(1).clamp(min=1)
            level = (flat * base).sum(1, keepdim=True) / n_base.view(-1, 1)
            return torch.where(base, level.expand_as(flat), med.expand_as(flat)).view_as(r)

        return edit

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.inner.agent.reward_edit = self._edit(obs)
        try:
            return self.inner.act(obs, rng)
        finally:
            self.inner.agent.reward_edit = None


def base_auc(task: str, obs: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """float[n]: per level, P(map at a base target > map at a background cell), ties 1/2."""
    own, background = _masks(task, obs)
    base = own[TASKS[task].objectives[0]]
    flat = maps.reshape(len(maps), -1)
    out = np.full(len(maps), np.nan)
    for i in range(len(maps)):
        a, b = flat[i][base[i]], flat[i][background[i]]
        if len(a) and len(b):
            diff = a[:, None] - b[None, :]
            out[i] = float((diff > 0).mean() + 0.5 * (diff == 0).mean())
    return out


def _base_scores(policy, task: str, settings: EvalSettings, random: pd.Series) -> pd.Series:
    """Per split: the mean base score of `policy` on the evaluation levels."""
    df = episode_scores(pd.DataFrame(evaluate(policy, task, settings)[0]).assign(task=task))
    means = df.groupby("split")[["return/base", "optimal/base"]].mean()
    span = means["optimal/base"] - random
    return (means["return/base"] - random) / span.where(span.abs() > 1e-9)


def approximate_row(run: str | Path, levels: int = 100) -> dict:
    """One planning run's train/deploy agreement and the cost of its map's errors."""
    run = Path(run)
    read = readout_run(run, run.parent, levels)
    task = read["task"]
    agent, meta = load_agent(run)
    settings = EvalSettings(eval_seed=read_config(run)["eval"]["eval_seed"], levels=levels)
    rand = pd.DataFrame(evaluate(RandomPolicy(), task, settings)[0])
    random = rand.groupby("split")["return/base"].mean()
    row = {k: v for k, v in read.items() if ":" not in k}
    row["plan_steps"] = int(getattr(agent, "plan_steps", 0))
    for split in SPLITS:
        with np.load(run / eval_arrays(split), allow_pickle=False) as data:
            codes = data["levels"][:levels]
        obs = start_observations(task, codes)
        with torch.no_grad():
            maps = agent.reward_map(torch.from_numpy(obs)).numpy()
        row[f"{split}/auc/base"] = float(np.nanmean(base_auc(task, obs, maps)))
    policies = {"learned": TorchPolicy(agent, meta["view"])}
    policies |= {k: MapFix(agent, task, k) for k in MAPS[1:]}
    for kind, policy in policies.items():
        for split, score in _base_scores(policy, task, settings, random).items():
            row[f"{split}/score/{kind}"] = float(score)
    for split in SPLITS:
        for kind in MAPS[1:]:
            row[f"{split}/cost/{kind}"] = (
                row[f"{split}/score/{kind}"] - row[f"{split}/score/learned"]
            )
    return row


__all__ = ["MAPS", "MapFix", "ReadoutError", "approximate_row", "base_auc"]
