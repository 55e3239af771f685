"""Sampling for learnability (SFL; Rutherford et al. 2024, "No Regrets"): prefer levels the
agent solves sometimes, learnability p(1 - p) with p its success rate.

Decisions:
- p per level is a running success rate from the training episodes themselves (base return /
  the oracle's base optimum, clipped to [0, 1]; an exponential average with weight 1/2 on the
  newest step's episodes), not from SFL's separate evaluation rollouts: no extra env steps.
- With probability `replay_prob` a reset draws uniformly from the top 10% of the pool by
  learnability (levels with learnability 0 excluded, as SFL keeps the top K); otherwise, or
  while no level has positive learnability, uniformly from the pool. Every episode trains.
"""

from __future__ import annotations

import numpy as np

from mesaworld.experiments.training.samplers.sampler import Sampler

TOP_FRACTION = 0.1


class SFL(Sampler):
    def scored(self, levels: np.ndarray) -> None:
        p = self.success[levels]
        self.score[levels] = p * (1.0 - p)

    def choose(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        levels = self.uniform(n)
        good = np.flatnonzero(self.score > 0)
        if len(good):
            k = max(1, int(TOP_FRACTION * self.n))
            top = good[np.argsort(-self.score[good], kind="stable")[:k]]
            replay = self.rng.random(n) < self.replay_prob
            levels[replay] = top[self.rng.integers(0, len(top), int(replay.sum()))]
        return levels, np.ones(n, bool)


ROW = dict(name="sfl", make=SFL, about="sampling for learnability p(1-p) (No Regrets)")
