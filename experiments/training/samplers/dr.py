"""Domain randomization over the pool: every reset draws a pool level uniformly at random.

Without a pool (`--sampler dr`, `pool_size` 0, the default) there is no sampler at all: the
engine draws fresh levels from the task's train generator exactly as before samplers existed.
With a pool, DR is the uniform distribution over the same levels every other sampler gets, the
baseline the curricula are compared against. It trains on every episode and keeps exact regret
per level like the others (for the tables), but never reads it.
"""

from __future__ import annotations

import numpy as np

from mesaworld.experiments.training.samplers.sampler import Sampler


class DomainRandomization(Sampler):
    def choose(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.uniform(n), np.ones(n, bool)


ROW = dict(
    name="dr",
    make=DomainRandomization,
    about="domain randomization: uniform over the pool (no pool: the generator, as before)",
)
