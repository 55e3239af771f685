"""Robust prioritized level replay (PLR-perp; Jiang et al. 2021, "Replay-Guided Adversarial
Environment Design"), on the fixed pool, with three scores: positive value loss (`plr`), MaxMC
(`plr-maxmc`) and exact regret from the oracle (`plr-regret`).

Decisions:
- Each reset decides on its own (the engine resets envs one episode at a time, as the original
  PLR code does per env): while never-drawn pool levels remain, explore one of them with
  probability 1 - `replay_prob`; otherwise (and always once every level was drawn: a finite
  training set, as in PLR's own Procgen runs) replay a scored level from the replay
  distribution P = (1 - rho) P_score + rho P_stale, with rank prioritization at temperature
  beta = 0.3 and staleness coefficient rho = 0.3 (the paper's defaults).
- Robust ("perp"): the agent is not trained on exploration episodes; `end_rollout` masks their
  transitions out of PPO's loss. They are only scored.
- Scores. Positive value loss: the mean over the level's valid steps in the rollout of
  max(GAE advantage, 0). MaxMC: the mean of (highest value target ever seen on the level -
  V(s)). Both are replaced at each rollout that plays the level. Exact regret: the oracle's
  base optimum minus the base return of the level's latest finished episode (`sampler.py`);
  a level is scored once one episode on it finished.
"""

from __future__ import annotations

import numpy as np

from mesaworld.experiments.training.samplers.sampler import Sampler

TEMPERATURE = 0.3
STALENESS = 0.3


class RobustPLR(Sampler):
    robust = True
    score_kind = "pvl"

    def choose(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        levels = np.empty(n, np.int64)
        train = np.ones(n, bool)
        explore = self.rng.random(n) >= self.replay_prob
        fresh = self.unseen(int(explore.sum()))
        explore[np.flatnonzero(explore)[len(fresh) :]] = False  # none left: replay instead
        levels[explore] = fresh
        train[explore] = False
        replay = ~explore
        if replay.any():
            p = self.prioritized(self.score, TEMPERATURE, STALENESS)
            if p.sum() == 0:  # nothing scored yet: explore (or, with no unseen level, uniform)
                more = self.unseen(int(replay.sum()))
                levels[replay] = np.concatenate([more, self.uniform(replay.sum() - len(more))])
                train[replay] = False
            else:
                levels[replay] = self.pick(p, int(replay.sum()))
        return levels, train

    def scored(self, levels: np.ndarray) -> None:
        if self.score_kind == "regret":
            self.score[levels] = self.regret[levels]

    def rollout_scored(self, levels: np.ndarray) -> None:
        if self.score_kind in ("pvl", "maxmc"):
            self.score[levels] = getattr(self, self.score_kind)[levels]


class RobustPLRMaxMC(RobustPLR):
    score_kind = "maxmc"


class RobustPLRRegret(RobustPLR):
    score_kind = "regret"


ROWS = (
    dict(name="plr", make=RobustPLR, about="robust PLR scored by positive value loss"),
    dict(name="plr-maxmc", make=RobustPLRMaxMC, about="robust PLR scored by MaxMC"),
    dict(name="plr-regret", make=RobustPLRRegret, about="robust PLR scored by exact regret"),
)
