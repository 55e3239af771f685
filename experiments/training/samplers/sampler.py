"""What a level sampler is: the pool it draws from, the per-level numbers it keeps, and the hooks
the batched engine and the trainer call.

A sampler decides which level each environment resets into. Decisions, written down:

- **The pool.** Every sampler draws from one fixed pool of `pool_size` levels (char codes
  uint8[n, H, W]) built from the task's train generator at the run's knob, from the run's seed
  (`make_pool`). Every sampler of a given seed sees the same pool, so "alpha = fraction of
  distinguishing levels" is the same set of levels for DR, PLR, SFL and the regret sampler. The
  pool is rebuilt from the seed on resume (it is not stored; ACCEL's edited levels are).
- **The hook.** The sampler is the engine's `level_source`: `draw(idx)` gives the levels of the
  envs that reset (NEXT_STEP autoresets included) and `observe(done, episode_returns)` is called
  every step before any autoreset, so each finished episode is attributed to the pool level it
  was played on. No sampler (`--sampler dr` without a pool) leaves the engine's generator path
  untouched, bit for bit.
- **Exact regret** of a level = the task oracle's base optimum on it (`Task.optimal_returns`,
  undiscounted, within the horizon, computed once per level and cached) minus the agent's base
  return on it. The return is that of the level's latest finished training episode (the mean if
  several envs finish it on the same step): a stochastic policy's regret is an estimate, but
  the optimum it is measured against is exact. Nothing is re-played: it costs one oracle call
  per level per run and a few array operations per step.
- **Estimated scores** (PLR's positive value loss and MaxMC) are computed per rollout by
  `end_rollout`, per level over the valid steps played on it in that rollout (partial episodes at
  the rollout's edges included, the level's score replaced, as PLR does). Every sampler keeps
  them, whether it uses them or not, beside exact regret and learnability: `levels_table` is
  the per-level record a run folder gets (`sampler_levels.csv`), so how well each estimate
  tracks exact regret can be read from any run ("No Regrets").
- **Robust samplers** (PLR-perp, ACCEL) do not train on the episodes of levels they drew to
  explore: `end_rollout` returns a mask the trainer ANDs into PPO's `valid` mask.
- **Determinism and resume.** A sampler is numpy only, draws from its own generator seeded from
  the run's seed, and `state_dict`/`load_state_dict` hold every array and its random stream (as
  plain arrays and JSON), so a killed run resumes to the same numbers. Checkpoints fall between
  updates, where the step trace is empty.
"""

from __future__ import annotations

import json

import numpy as np

# Per-level arrays (index: pool level) every sampler keeps, saved in its state. float64 NaN =
# unknown.
LEVEL_ARRAYS = {
    "optimum": np.nan,  # the oracle's base optimum
    "last_return": np.nan,  # base return of the latest finished episode on the level
    "regret": np.nan,  # exact regret: optimum - last_return
    "score": np.nan,  # the sampler's own score (PLR: its estimate; SFL: learnability)
    "max_return": -np.inf,  # MaxMC: the highest value target seen on the level
    "pvl": np.nan,  # positive value loss of the level's latest rollout
    "maxmc": np.nan,  # MaxMC of the level's latest rollout
    "success": np.nan,  # SFL: running success rate (base return / optimum, in [0, 1])
    "episodes": 0,  # finished episodes on the level
    "drawn": 0,  # times the level was handed to an env
    "last_drawn": 0,  # the draw clock when it was last handed out (staleness)
}
INT_ARRAYS = ("episodes", "drawn", "last_drawn")


def make_pool(generator, n: int, seed: np.random.SeedSequence | int) -> np.ndarray:
    """`n` levels (uint8[n, H, W]) from `generator`, decided by `seed` alone."""
    rng = np.random.default_rng(seed)
    return generator.build(rng.random((n, generator.n_uniforms)))


class Sampler:
    """The shared machinery; a sampler file subclasses it and writes `choose`.

    `choose(n)` returns (pool indices int64[n], train bool[n]): which levels n resetting envs
    get, and whether their episodes train the agent (False only for a robust sampler's
    exploration draws).
    """

    robust = False  # True: exploration episodes are masked out of the PPO loss

    def __init__(self, codes: np.ndarray, task, num_envs: int, seed, replay_prob: float = 0.5):
        self.codes = np.ascontiguousarray(codes, np.uint8)
        self.size = len(self.codes)  # levels in use (ACCEL keeps room for edited ones after)
        self.task = task
        self.base = task.objectives.index("base")
        self.replay_prob = float(replay_prob)
        self.rng = np.random.default_rng(seed)
        self.clock = 0
        n = len(self.codes)
        for name, fill in LEVEL_ARRAYS.items():
            dtype = np.int64 if name in INT_ARRAYS else np.float64
            setattr(self, name, np.full(n, fill, dtype))
        self.current = np.full(num_envs, -1, np.int64)  # the pool level each env plays
        self.trained = np.ones(num_envs, bool)  # whether its episode trains the agent
        self._trace: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def n(self) -> int:
        return self.size

    # --- the engine's hooks ------------------------------------------------------------------
    def draw(self, idx: np.ndarray) -> np.ndarray:
        """Levels (uint8[len(idx), H, W]) for the envs `idx` that reset now."""
        levels, train = self.choose(len(idx))
        self.clock += 1
        self.current[idx] = levels
        self.trained[idx] = train
        np.add.at(self.drawn, levels, 1)
        self.last_drawn[levels] = self.clock
        return self.codes[levels]

    def observe(self, done: np.ndarray, episode_returns: np.ndarray) -> None:
        """Called by the engine every step, before autoresets: record which level each env's
        step was on, and the base return of every episode that just ended."""
        self._trace.append((self.current.copy(), self.trained.copy()))
        if done.any():
            ended = np.flatnonzero(done)
            self.episodes_ended(self.current[ended], episode_returns[self.base, ended])

    # --- per-level numbers ---------------------------------------------------------------------
    def optimal(self, levels: np.ndarray) -> np.ndarray:
        """The oracle's base optimum of pool levels (computed once per level, then cached)."""
        todo = np.unique(levels[np.isnan(self.optimum[levels])])
        for lv in todo:
            self.optimum[lv] = float(self.task.optimal_returns(self.codes[lv]).get("base", np.nan))
        return self.optimum[levels]

    def episodes_ended(self, levels: np.ndarray, returns: np.ndarray) -> None:
        """Exact regret of the levels whose episodes ended (mean return per level this step)."""
        uniq, inv = np.unique(levels, return_inverse=True)
        count = np.bincount(inv, minlength=len(uniq))
        mean = np.bincount(inv, weights=returns, minlength=len(uniq)) / count
        opt = self.optimal(uniq)
        self.episodes[uniq] += count
        self.last_return[uniq] = mean
        self.regret[uniq] = opt - mean
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = np.where(opt > 0, np.clip(mean / opt, 0.0, 1.0), (mean >= opt).astype(float))
        prev = self.success[uniq]
        self.success[uniq] = np.where(np.isnan(prev), ok, 0.5 * prev + 0.5 * ok)
        self.scored(uniq)

    def scored(self, levels: np.ndarray) -> None:
        """Hook: finished episodes updated `levels` (subclasses refresh their score)."""

    def end_rollout(
        self, values: np.ndarray, advantages: np.ndarray, returns: np.ndarray, valid: np.ndarray
    ) -> np.ndarray | None:
        """Called by the trainer after each rollout of T steps (values [T+1, B], the rest
        [T, B]): update rollout scores; return the train mask [T, B] (robust samplers) or None."""
        if not self._trace:
            return None
        levels = np.stack([t[0] for t in self._trace])
        train = np.stack([t[1] for t in self._trace])
        self._trace = []
        if levels.shape != valid.shape:
            raise ValueError(f"sampler traced {levels.shape} steps, the rollout has {valid.shape}")
        lv = levels[valid]
        count = np.bincount(lv, minlength=self.n)
        seen = np.flatnonzero(count)
        pos = np.bincount(lv, weights=np.maximum(advantages[valid], 0.0), minlength=self.n)
        np.maximum.at(self.max_return, lv, returns[valid])
        gap = self.max_return[lv] - values[:-1][valid]
        self.pvl[seen] = pos[seen] / count[seen]
        self.maxmc[seen] = np.bincount(lv, weights=gap, minlength=self.n)[seen] / count[seen]
        self.rollout_scored(seen)
        return train if self.robust else None

    def rollout_scored(self, levels: np.ndarray) -> None:
        """Hook: a rollout refreshed the positive value loss and MaxMC of `levels`."""

    def levels_table(self) -> dict[str, np.ndarray]:
        """Per pool level (and ACCEL child): the numbers the sampler keeps, as columns."""
        n = self.n
        cols = {"level": np.arange(n), "child": np.arange(n) >= getattr(self, "pool", n)}
        cols.update({k: getattr(self, k)[:n] for k in LEVEL_ARRAYS if k != "max_return"})
        cols["learnability"] = self.success[:n] * (1.0 - self.success[:n])
        return cols

    def choose(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # --- choosing helpers --------------------------------------------------------------------
    def uniform(self, n: int) -> np.ndarray:
        return self.rng.integers(0, self.n, n)

    def unseen(self, n: int) -> np.ndarray:
        """Up to n never-drawn levels, in random order (fewer if fewer remain)."""
        free = np.flatnonzero(self.drawn[: self.n] == 0)
        if len(free) <= n:
            return self.rng.permutation(free)
        return self.rng.choice(free, n, replace=False)

    def prioritized(self, scores: np.ndarray, temperature: float, staleness: float) -> np.ndarray:
        """PLR's replay distribution over levels with finite `scores` (others get 0):
        (1 - staleness) * rank prioritization h = (1/rank)^(1/temperature) + staleness * (clock -
        last_drawn), each normalized. Tied scores share the best rank among them (equal
        probability: exact regret ties often, e.g. every solved level at 0)."""
        p = np.zeros(self.n)
        ok = np.flatnonzero(np.isfinite(scores[: self.n]))
        if len(ok) == 0:
            return p
        neg = -scores[ok]
        rank = np.searchsorted(np.sort(neg), neg, side="left") + 1.0
        h = (1.0 / rank) ** (1.0 / temperature)
        ps = h / h.sum()
        stale = (self.clock - self.last_drawn[ok]).astype(float)
        pc = stale / stale.sum() if stale.sum() > 0 else np.full(len(ok), 1.0 / len(ok))
        p[ok] = (1.0 - staleness) * ps + staleness * pc
        return p / p.sum()

    def pick(self, p: np.ndarray, n: int) -> np.ndarray:
        return self.rng.choice(len(p), n, p=p)

    # --- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Every array and the random stream, as numpy arrays and one JSON string."""
        if self._trace:
            raise RuntimeError("a sampler is saved between rollouts (its step trace is not empty)")
        out = {k: getattr(self, k).copy() for k in (*LEVEL_ARRAYS, "current", "trained")}
        out["codes"] = self.codes.copy()
        meta = {"rng": self.rng.bit_generator.state, "clock": self.clock, "size": self.size}
        out["json"] = json.dumps(meta)
        return out

    def load_state_dict(self, data: dict) -> None:
        for k in (*LEVEL_ARRAYS, "current", "trained", "codes"):
            value = np.asarray(data[k])
            setattr(self, k, value.copy())
        meta = json.loads(data["json"])
        self.rng.bit_generator.state = meta["rng"]
        self.clock = int(meta["clock"])
        self.size = int(meta["size"])
        self._trace = []
