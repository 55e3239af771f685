"""The batched engine: B environments of one task stepped at once, no Python loop over envs.

`Engine` is what every task shares: B environments, one random stream per environment, level
loading from a generator, the horizon, NEXT_STEP autoreset and episode statistics. The rules are
the `Task`'s (`mesaworld.envs.task`). The Gymnasium classes in `mesaworld.envs.gym_env` are thin views of an Engine
(B=1 for `gym.Env`), so the single and vector environments run the same code and agree exactly
for the same seeds and actions.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Mapping, Sequence

import numpy as np
from gymnasium.utils import seeding

from mesaworld.envs.generators import Generator
from mesaworld.envs.level import Level
from mesaworld.envs.task import Task

RNG_BYTES = 1_000  # one numpy Generator with its bit generator: ~880 bytes (tracemalloc)


def available_memory() -> int:
    """Bytes of memory this machine can still give (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def engine_bytes(task: Task, num_envs: int, n_uniforms: int = 0) -> int:
    """Memory `num_envs` environments of `task` take at their peak: state arrays, totals,
    random streams, a reset of all of them (the generator's uniforms and the temporaries of
    building levels from them, ~4 arrays of that size) and an observation copy."""
    probe = task.alloc(1)
    per_env = sum(np.asarray(v).nbytes for v in vars(probe).values())
    per_env += 8 * (len(task.objectives) + len(task.measures)) + RNG_BYTES
    per_env += 4 * 8 * max(n_uniforms, task.n_cells) + int(np.prod(task.obs_shape))
    return int(num_envs) * per_env


class TooLargeError(ValueError):
    """A request that would not fit in this machine's memory (refused before allocating)."""


def require_memory(nbytes: int, what: str) -> None:
    """Refuse in one line, before allocating, what would not fit in memory."""
    free = available_memory()
    if nbytes > 0.8 * free:
        raise TooLargeError(
            f"{what} needs about {nbytes / 2**30:.3g} GiB; this machine has "
            f"{free / 2**30:.3g} GiB available"
        )


def mixture_weights(task: Task, weights: Mapping[str, float] | None) -> np.ndarray | None:
    """float32[K] weights of a reward that mixes the task's objectives (None: the task's own
    reward objective). Names must be objectives; weights finite, not all zero."""
    if weights is None:
        return None
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(
            f"reward_weights must be a non-empty dict objective -> weight, got {weights!r}"
        )
    out = np.zeros(len(task.objectives), np.float32)
    for name, w in weights.items():
        if name not in task.objectives:
            raise ValueError(
                f"reward_weights: {name!r} is not an objective of {task.name} "
                f"({', '.join(task.objectives)})"
            )
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w):
            raise ValueError(f"reward_weights[{name!r}] must be a finite number, got {w!r}")
        out[task.objectives.index(name)] = w
    if not out.any():
        raise ValueError("reward_weights: at least one weight must be non-zero")
    return out


class Engine:
    """B environments of one task, drawing levels from one generator.

    Each environment owns a numpy Generator (seeded like Gymnasium's `np_random`), and draws each
    new level from it, so env i of a vector env seeded s behaves exactly as a single env seeded
    s + i. With `autoreset`, an env that ended is reset by the next `step` (Gymnasium's NEXT_STEP
    mode: that step ignores its action and returns the reset observation with zero reward).

    `level_source` (None by default: levels come from the generator, as above) is the one hook
    for level samplers (`mesaworld.experiments.training.samplers`): when set, resets ask
    `level_source.draw(idx)` for the levels (uint8[n, H, W] codes) instead of the generator, and
    every `step` tells it `level_source.observe(done, episode_returns)` before any autoreset, so
    it can attribute finished episodes (and each step) to the levels it handed out.
    """

    def __init__(
        self,
        task: Task,
        generator: Generator,
        num_envs: int,
        autoreset: bool,
        reward_weights: Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if tuple(generator.shape) != task.shape:
            raise ValueError(f"generator makes {generator.shape} levels, task expects {task.shape}")
        require_memory(
            engine_bytes(task, num_envs, generator.n_uniforms),
            f"num_envs={num_envs} of {task.name}",
        )
        self.task = task
        self.reward_weights = mixture_weights(task, reward_weights)
        self.generator = generator
        self.num_envs = int(num_envs)
        self.autoreset = autoreset
        self.rngs: list[np.random.Generator] = [seeding.np_random()[0] for _ in range(num_envs)]
        self.state = task.alloc(num_envs)
        k, b = len(task.objectives), num_envs
        self.episode_returns = np.zeros((k, b), np.float64)
        self.episode_measures = np.zeros((len(task.measures), b), np.float64)
        self.needs_reset = np.zeros(b, bool)
        self._all = np.arange(b)
        self.level_source = None

    def seed(self, seeds: Sequence[int | None]) -> None:
        self.rngs = [seeding.np_random(s)[0] for s in seeds]

    def reset(self, idx: np.ndarray | None = None) -> None:
        """Draw a new level for envs `idx` (all if None) from their own random streams."""
        idx = self._all if idx is None else idx
        if self.level_source is not None:
            self._start(idx, self.level_source.draw(idx))
            return
        n_u = self.generator.n_uniforms
        u = np.empty((len(idx), n_u))
        for row, i in zip(u, idx):  # one small call per resetting env: its own stream
            self.rngs[i].random(out=row)
        self._start(idx, self.generator.build(u))

    def load_levels(self, levels: Sequence[Level]) -> None:
        """Put given levels (validated) into envs 0..len-1: for scripted tests and `play`."""
        codes = np.stack([self.task.check(lv).to_array() for lv in levels])
        self._start(np.arange(len(levels)), codes)

    def load_codes(self, codes: np.ndarray) -> None:
        """Put levels given as uint8[n, H, W] char codes (e.g. a generator's `build` output) into
        envs 0..n-1, unchecked: the fast path for evaluation level sets."""
        self._start(np.arange(len(codes)), codes)

    def _start(self, idx: np.ndarray, codes: np.ndarray) -> None:
        """Begin a new episode in envs `idx` on the given levels (uint8[n, H, W] codes)."""
        self.task.load(self.state, idx, codes)
        self.episode_returns[:, idx] = 0.0
        self.episode_measures[:, idx] = 0.0
        self.needs_reset[idx] = False

    def state_dict(self) -> dict:
        """Everything that decides the future of these envs: the state arrays, the episode
        totals, pending resets and each env's random stream. Plain arrays and JSON-able dicts
        (no pickled objects), so a training checkpoint can hold it and resume exactly."""
        return {
            "state": {k: v.copy() for k, v in vars(self.state).items()},
            "episode_returns": self.episode_returns.copy(),
            "episode_measures": self.episode_measures.copy(),
            "needs_reset": self.needs_reset.copy(),
            "rngs": json.dumps([r.bit_generator.state for r in self.rngs]),
        }

    def load_state_dict(self, data: dict) -> None:
        """Restore `state_dict` output (from an engine of the same task, size and B)."""
        for key, value in data["state"].items():
            current = getattr(self.state, key)
            value = np.asarray(value)
            if value.shape != current.shape or value.dtype != current.dtype:
                raise ValueError(
                    f"engine state {key!r} is {value.dtype}{list(value.shape)}, "
                    f"expected {current.dtype}{list(current.shape)}"
                )
            setattr(self.state, key, value.copy())
        self.episode_returns = np.array(data["episode_returns"], np.float64)
        self.episode_measures = np.array(data["episode_measures"], np.float64)
        self.needs_reset = np.array(data["needs_reset"], bool)
        states = json.loads(data["rngs"])
        if len(states) != self.num_envs:
            raise ValueError(
                f"engine state has {len(states)} random streams, expected {self.num_envs}"
            )
        for rng, st in zip(self.rngs, states):
            rng.bit_generator.state = st

    def step(self, actions: np.ndarray) -> dict:
        """Step all envs. Returns a dict of arrays: reward, terminated, truncated, objectives,
        measures, `done` (ended this step) and, only if some env ended, the episode totals
        episode_returns, episode_measures, episode_length (read them where `done`)."""
        s, task = self.state, self.task
        objectives, measures, terminated = task.step(s, actions)
        s.t += 1
        truncated = (s.t >= task.max_steps) & ~terminated
        self.episode_returns += objectives
        self.episode_measures += measures
        done = terminated | truncated
        out = {
            "reward": (
                objectives[task.reward_index].copy()
                if self.reward_weights is None
                else self.reward_weights @ objectives
            ),
            "terminated": terminated,
            "truncated": truncated,
            "objectives": objectives,
            "measures": measures,
            "done": done,
        }
        if self.level_source is not None:
            self.level_source.observe(done, self.episode_returns)
        if done.any():  # episode totals, read before a NEXT_STEP reset clears them
            out["episode_returns"] = self.episode_returns.copy()
            out["episode_measures"] = self.episode_measures.copy()
            out["episode_length"] = s.t.copy()
        if self.autoreset and self.needs_reset.any():
            # NEXT_STEP: envs that ended last step start a new level now; this step's outcome for
            # them is the reset itself (no reward, no flags, no episode end).
            idx = np.flatnonzero(self.needs_reset)
            self.reset(idx)
            for key in ("reward", "terminated", "truncated", "done"):
                out[key][idx] = 0
            out["objectives"][:, idx] = 0.0
            out["measures"][:, idx] = 0.0
        self.needs_reset |= out["done"]
        return out
