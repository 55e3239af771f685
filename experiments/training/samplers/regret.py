"""The exact-regret sampler: as close to a minimax-regret (MMER) adversary as exact regret
allows.

An MMER adversary answers the current policy with the levels of highest regret. Here the regret
of every level is exact up to the policy's own randomness (oracle optimum minus the base return
of the level's latest episode), so the sampler does not estimate it; what it must still do is
keep the estimates current and cover the pool. Decisions:
- Coverage first: while some pool level was never drawn, resets take never-drawn levels
  (their regret is unknown, so an adversary cannot rule them out).
- Then every reset replays from P = (1 - rho) P_rank + rho P_stale over the levels with a known
  regret, with a sharp rank temperature beta = 0.1 (mass concentrates on the highest-regret
  levels, the adversary's best response) and staleness rho = 0.1 (so a level's regret is
  re-measured as the policy changes). Tied regrets share a rank (equal probability).
- Every episode trains (no exploration episodes: exact regret needs no value estimate to
  settle before a level is trusted). `replay_prob` is not used.
"""

from __future__ import annotations

import numpy as np

from mesaworld.experiments.training.samplers.sampler import Sampler

TEMPERATURE = 0.1
STALENESS = 0.1


class ExactRegret(Sampler):
    def choose(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        fresh = self.unseen(n)
        rest = n - len(fresh)
        if rest == 0:
            return fresh, np.ones(n, bool)
        p = self.prioritized(self.regret, TEMPERATURE, STALENESS)
        more = self.pick(p, rest) if p.sum() > 0 else self.uniform(rest)
        return np.concatenate([fresh, more]), np.ones(n, bool)


ROW = dict(name="regret", make=ExactRegret, about="exact-regret sampler (approximate MMER)")
