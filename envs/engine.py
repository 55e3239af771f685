"""The batched gridworld engine: B levels stepped at once with numpy, no Python loop over envs.

Two pieces:
    `Task`    what a gridworld *is*: legend, state arrays, one vectorized `step`, objectives and
              observation channels. Subclasses (e.g. `envs.roomba.Roomba`) define the rules.
    `Engine`  what every task shares: B environments, one random stream per environment, level
              loading from a generator, the horizon, NEXT_STEP autoreset, episode statistics.

The Gymnasium classes in `envs.gym_env` are thin views of an `Engine` (B=1 for `gym.Env`), so the
single and vector environments run the same code and agree exactly for the same seeds and actions.

Shapes: B environments, H x W grid, N = H * W cells, C channels, K objectives.
Positions are flat cell indices `r * W + c` (int64[B]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium.utils import seeding

from envs.generators import Generator
from envs.level import AGENT, WALL, Level, check_level

ACTIONS = ("up", "right", "down", "left", "stay")
# Action-string letters (for `mesaworld play`, golden tests, README examples).
ACTION_KEYS = {"u": 0, "r": 1, "d": 2, "l": 3, ".": 4}
VIEWS = ("full", "egocentric")


def parse_actions(text: str) -> list[int]:
    """'rrd.l' -> [1, 1, 2, 4, 3]; spaces are ignored. Raises ValueError naming a bad letter."""
    out = []
    for i, ch in enumerate(text):
        if ch.isspace():
            continue
        if ch not in ACTION_KEYS:
            raise ValueError(
                f"action string position {i + 1}: unknown action {ch!r} "
                "(use u=up r=right d=down l=left .=stay)"
            )
        out.append(ACTION_KEYS[ch])
    return out


class State:
    """Arrays of B environments. Tasks add their own fields in `Task.alloc`.

    pos: int64[B] agent cell; obstacle: bool[B, N]; t: int64[B] steps taken this episode;
    obs: uint8[B, C, N] the full-grid observation, kept up to date incrementally by `step`.
    """

    pos: np.ndarray
    obstacle: np.ndarray
    t: np.ndarray
    obs: np.ndarray


class Task:
    """A gridworld's rules. Subclasses set the class attributes and implement the hooks."""

    name: str = ""
    legend: dict[str, str] = {}
    objectives: tuple[str, ...] = ("base",)  # first is always "base" (= reward)
    measures: tuple[str, ...] = ()  # per-step diagnostics that are not goals
    channels: tuple[str, ...] = ("obstacle", "agent")
    obstacle_chars: str = WALL

    def __init__(self, shape: tuple[int, int], max_steps: int, view: str = "full") -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.max_steps = int(max_steps)
        self.view = view
        h, w = self.shape
        self.n_cells = h * w
        self._delta = np.array([-w, 1, w, -1, 0], np.int64)
        self._agent_ch = self.channels.index("agent")
        if view == "egocentric":
            self._init_egocentric()

    # --- levels -------------------------------------------------------------------------------
    def check(self, level: Level) -> Level:
        """Validate a level for this task (raises LevelError naming line and column)."""
        check_level(level, self.legend, self.name)
        if level.shape != self.shape:
            raise ValueError(f"{self.name} level is {level.shape}, this environment is {self.shape}")
        return level

    def alloc(self, n: int) -> State:
        s = State()
        s.pos = np.zeros(n, np.int64)
        s.obstacle = np.ones((n, self.n_cells), bool)
        s.t = np.zeros(n, np.int64)
        s.obs = np.zeros((n, len(self.channels), self.n_cells), np.uint8)
        return s

    def load(self, s: State, idx: np.ndarray, codes: np.ndarray) -> None:
        """Write n levels (uint8[n, H, W] char codes) into rows `idx` of the state."""
        flat = codes.reshape(len(idx), self.n_cells)
        s.obstacle[idx] = np.isin(flat, np.frombuffer(self.obstacle_chars.encode(), np.uint8))
        s.pos[idx] = np.argmax(flat == ord(AGENT), axis=1)
        s.t[idx] = 0
        self._load(s, idx, flat)
        s.obs[idx] = self._observe(s, idx)

    def _load(self, s: State, idx: np.ndarray, flat: np.ndarray) -> None:
        """Task hook: fill the task's own arrays for rows `idx` from uint8[n, N] codes."""

    def _observe(self, s: State, idx: np.ndarray) -> np.ndarray:
        """Task hook: the full observation uint8[n, C, N] of rows `idx`, built from scratch."""
        raise NotImplementedError

    def to_codes(self, s: State, i: int) -> np.ndarray:
        """uint8[H, W] char codes of environment i's current state (its level as it is now)."""
        raise NotImplementedError

    def status(self, s: State, i: int) -> str:
        """One line of task state for the ansi render (e.g. bin fill)."""
        return ""

    # --- dynamics -----------------------------------------------------------------------------
    def move(self, s: State, actions: np.ndarray) -> np.ndarray:
        """Move agents unless blocked; keep the agent channel current. Returns the old positions."""
        rows = np.arange(len(s.pos))
        old = s.pos
        new = old + self._delta[actions]
        s.pos = np.where(s.obstacle[rows, new], old, new)
        s.obs[rows, self._agent_ch, old] = 0
        s.obs[rows, self._agent_ch, s.pos] = 1
        return old

    def step(self, s: State, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every env one step. Returns objectives float32[K, B] (row 0 = base = reward),
        measures float32[M, B], terminated bool[B]."""
        raise NotImplementedError

    # --- observations -------------------------------------------------------------------------
    @property
    def obs_shape(self) -> tuple[int, int, int]:
        h, w = self.shape
        if self.view == "full":
            return (len(self.channels), h, w)
        return (len(self.channels) - 1, self._ego, self._ego)

    @property
    def obs_channels(self) -> tuple[str, ...]:
        if self.view == "full":
            return self.channels
        return tuple(c for c in self.channels if c != "agent")

    def _init_egocentric(self) -> None:
        # The view is centred on the agent and spans 2r+1 cells with r = max(H, W) - 3, which covers
        # the whole walled room from any interior cell. Cells off the grid read as obstacle.
        h, w = self.shape
        r = max(h, w) - 3
        self._ego = 2 * r + 1
        off = np.arange(-r, r + 1)
        rr = np.arange(h)[:, None, None] + off[None, :, None]  # [H, V, 1]
        cc = np.arange(w)[:, None, None] + off[None, None, :]  # [W, 1, V]
        rows = rr[:, None, :, :]  # [H, 1, V, 1]
        cols = cc[None, :, :, :]  # [1, W, 1, V]
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        # For agent cell (r0, c0): gather index of every view cell, N = the "outside" sentinel.
        index = np.where(inside, rows * w + cols, self.n_cells)
        self._ego_index = index.reshape(h * w, self._ego * self._ego)
        keep = [i for i, c in enumerate(self.channels) if c != "agent"]
        self._ego_keep = np.array(keep)
        outside = np.zeros(len(keep), np.uint8)
        outside[[self.obs_channels.index("obstacle")]] = 1
        self._ego_outside = outside

    def observation(self, s: State) -> np.ndarray:
        """uint8[B, *obs_shape]: a fresh array (safe to keep) in the configured view."""
        n = len(s.pos)
        if self.view == "full":
            return s.obs.reshape(n, *self.obs_shape).copy()
        # Cell-major copy with one sentinel cell, then one flat gather per (env, view cell).
        k = len(self._ego_keep)
        cells = np.empty((n, self.n_cells + 1, k), np.uint8)
        cells[:, : self.n_cells] = s.obs[:, self._ego_keep].transpose(0, 2, 1)
        cells[:, self.n_cells] = self._ego_outside
        gather = self._ego_index[s.pos] + (np.arange(n) * (self.n_cells + 1))[:, None]
        view = cells.reshape(-1, k)[gather]  # [B, V*V, k]
        return np.ascontiguousarray(view.transpose(0, 2, 1)).reshape(n, *self.obs_shape)


class Engine:
    """B environments of one task, drawing levels from one generator.

    Each environment owns a numpy Generator (seeded like Gymnasium's `np_random`), and draws each
    new level from it, so env i of a vector env seeded s behaves exactly as a single env seeded
    s + i. With `autoreset`, an env that ended is reset by the next `step` (Gymnasium's NEXT_STEP
    mode: that step ignores its action and returns the reset observation with zero reward).
    """

    def __init__(self, task: Task, generator: Generator, num_envs: int, autoreset: bool) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if tuple(generator.shape) != task.shape:
            raise ValueError(f"generator makes {generator.shape} levels, task expects {task.shape}")
        self.task = task
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

    def seed(self, seeds: Sequence[int | None]) -> None:
        self.rngs = [seeding.np_random(s)[0] for s in seeds]

    def reset(self, idx: np.ndarray | None = None) -> None:
        """Draw a new level for envs `idx` (all if None) from their own random streams."""
        idx = self._all if idx is None else idx
        n_u = self.generator.n_uniforms
        u = np.stack([self.rngs[i].random(n_u) for i in idx]) if len(idx) else np.zeros((0, n_u))
        self.task.load(self.state, idx, self.generator.build(u))
        self.episode_returns[:, idx] = 0.0
        self.episode_measures[:, idx] = 0.0
        self.needs_reset[idx] = False

    def load_levels(self, levels: Sequence[Level]) -> None:
        """Put given levels (validated) into envs 0..len-1: for scripted tests and `play`."""
        codes = np.stack([self.task.check(lv).to_array() for lv in levels])
        idx = np.arange(len(levels))
        self.task.load(self.state, idx, codes)
        self.episode_returns[:, idx] = 0.0
        self.episode_measures[:, idx] = 0.0
        self.needs_reset[idx] = False

    def step(self, actions: np.ndarray) -> dict:
        """Step all envs. Returns a dict of arrays: reward, terminated, truncated, objectives,
        measures, and `done` (ended this step; their episode totals are in episode_*)."""
        s, task = self.state, self.task
        objectives, measures, terminated = task.step(s, actions)
        s.t += 1
        truncated = (s.t >= task.max_steps) & ~terminated
        self.episode_returns += objectives
        self.episode_measures += measures
        out = {
            "reward": objectives[0].copy(),
            "terminated": terminated,
            "truncated": truncated,
            "objectives": objectives,
            "measures": measures,
            "done": terminated | truncated,
            "episode_returns": self.episode_returns.copy(),
            "episode_measures": self.episode_measures.copy(),
            "episode_length": s.t.copy(),
        }
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
