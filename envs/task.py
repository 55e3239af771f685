"""What a gridworld *is*: `Task`, the rules of one task over a batch of environments.

A `Task` subclass (one per file in `envs/tasks/`) declares its legend, observation channels,
objectives (the first is always "base"; `reward` names the one paid as reward) and measures, and
implements one vectorized `step` over `State` arrays with a leading batch axis. `Engine`
(`mesaworld.envs.engine`) runs B environments of a task; the Gymnasium classes are views of an Engine.

Also here: the action set (`ACTIONS`, action strings for scripts and `mesaworld play`) and
`char_table`, the char-code lookup every task builds its arrays with.

Shapes: B environments, H x W grid, N = H * W cells, C channels, K objectives.
Positions are flat cell indices `r * W + c` (int64[B]).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mesaworld.envs.level import AGENT, WALL, Level, check_level

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


def char_table(chars: str, values: object = True, dtype: type = bool) -> np.ndarray:
    """A 256-entry lookup: char code -> value for `chars`, 0 elsewhere (faster than np.isin)."""
    table = np.zeros(256, dtype)
    table[np.frombuffer(chars.encode("ascii"), np.uint8)] = values
    return table


class State:
    """Arrays of B environments. Tasks add their own fields in `Task.alloc`.

    pos: int64[B] agent cell; obstacle: bool[B, N]; t: int64[B] steps taken this episode;
    rows: int64[B] = arange(B), cached for fancy indexing;
    obs: the observation, kept current incrementally by `step` through `Task.write`/`Task.fill`.
        Its layout serves the view: channel-major uint8[B, C, N] for "full"; for "egocentric"
        cell-major and padded by r off-grid cells, uint8[B, H + 2r, W + 2r, C - 1] (no agent
        channel), so the view is one sliding-window index with no per-step transpose.
    """

    pos: np.ndarray
    obstacle: np.ndarray
    t: np.ndarray
    rows: np.ndarray
    obs: np.ndarray


class Task:
    """A gridworld's rules. Subclasses set the class attributes and implement the hooks."""

    name: str = ""
    legend: dict[str, str] = {}
    objectives: tuple[str, ...] = ("base",)  # first is always "base"
    # The objective paid as reward. "base" on every task but one: in the absent supervisor the
    # reward is what the supervisor enforces ("watched") and the base objective is the
    # designers' hidden performance, as in ai-safety-gridworlds.
    reward: str = "base"
    measures: tuple[str, ...] = ()  # per-step diagnostics that are not goals
    counted: dict[str, str] = {}  # level char -> name: objects evaluation counts per level
    channels: tuple[str, ...] = ("obstacle", "agent")
    obstacle_chars: str = WALL
    palette: dict = {}

    def __init__(self, shape: tuple[int, int], max_steps: int, view: str = "full") -> None:
        if (
            isinstance(max_steps, bool)
            or not isinstance(max_steps, int | np.integer)
            or max_steps < 1
        ):
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.max_steps = np.int64(max_steps)  # numpy scalar: no Python-int range check per step
        self.view = view
        h, w = self.shape
        self.n_cells = h * w
        self.reward_index = self.objectives.index(self.reward)
        self._delta = np.array([-w, 1, w, -1, 0], np.int64)
        self._is_obstacle = char_table(self.obstacle_chars)
        self._ego = view == "egocentric"
        # The egocentric view spans 2r+1 cells with r = max(H, W) - 3: the whole walled room from
        # any interior cell.
        self._r = max(h, w) - 3 if self._ego else 0
        names = self.obs_channels
        self._slot = {c: (names.index(c) if c in names else None) for c in self.channels}
        r = self._r
        pr, pc = np.divmod(np.arange(self.n_cells), w)
        self._padded = (pr + r) * (w + 2 * r) + (pc + r)  # cell -> index in the padded grid

    # --- levels -------------------------------------------------------------------------------
    def check(self, level: Level) -> Level:
        """Validate a level for this task (raises LevelError naming line and column)."""
        check_level(level, self.legend, self.name)
        if level.shape != self.shape:
            raise ValueError(
                f"{self.name} level is {level.shape}, this environment is {self.shape}"
            )
        return level

    def alloc(self, n: int) -> State:
        s = State()
        s.pos = np.zeros(n, np.int64)
        s.obstacle = np.ones((n, self.n_cells), bool)
        s.t = np.zeros(n, np.int64)
        s.rows = np.arange(n)
        h, w, r, c = *self.shape, self._r, len(self.obs_channels)
        if self._ego:
            s.obs = np.zeros((n, h + 2 * r, w + 2 * r, c), np.uint8)
            s.obs[..., self._slot["obstacle"]] = 1  # off-grid cells read as obstacle
        else:
            s.obs = np.zeros((n, c, self.n_cells), np.uint8)
        return s

    def load(self, s: State, idx: np.ndarray, codes: np.ndarray) -> None:
        """Write n levels (uint8[n, H, W] char codes) into rows `idx` of the state."""
        flat = codes.reshape(len(idx), self.n_cells)
        s.obstacle[idx] = self._is_obstacle[flat]
        s.pos[idx] = np.argmax(flat == ord(AGENT), axis=1)
        s.t[idx] = 0
        self._load(s, idx, flat)
        full = self._observe(s, idx)  # [n, C, N]
        if self._ego:
            h, w, r = *self.shape, self._r
            keep = [self.channels.index(c) for c in self.obs_channels]
            grid = full[:, keep].reshape(len(idx), len(keep), h, w).transpose(0, 2, 3, 1)
            s.obs[idx, r : r + h, r : r + w] = grid
        else:
            s.obs[idx] = full

    def _load(self, s: State, idx: np.ndarray, flat: np.ndarray) -> None:
        """Task hook: fill the task's own arrays for rows `idx` from uint8[n, N] codes."""

    def _observe(self, s: State, idx: np.ndarray) -> np.ndarray:
        """Task hook: the full observation uint8[n, C, N] of rows `idx`, built from scratch."""
        raise NotImplementedError

    def to_codes(self, s: State, i: int) -> np.ndarray:
        """uint8[H, W] char codes of environment i's current state (its level as it is now)."""
        raise NotImplementedError

    def optimal_returns(self, codes: np.ndarray) -> dict[str, float]:
        """Oracle: the best achievable episode return per objective on a level (uint8[H, W]
        codes) within the horizon, for the objectives where the task can compute it exactly
        (absent or NaN: unknown). Evaluation records it to normalize returns."""
        return {}

    def status(self, s: State, i: int) -> str:
        """One line of task state for the ansi render (e.g. bin fill)."""
        return ""

    # --- incremental observation updates (layout-independent) ---------------------------------
    def write(self, s: State, channel: str, cells: np.ndarray, values: np.ndarray | int) -> None:
        """Set `channel` at one cell per env (int64[B] cells) in the observation buffer."""
        slot = self._slot[channel]
        if slot is None:
            return
        if self._ego:
            s.obs.reshape(len(s.rows), -1, s.obs.shape[-1])[s.rows, self._padded[cells], slot] = (
                values
            )
        else:
            s.obs[s.rows, slot, cells] = values

    def fill(
        self, s: State, channel: str, values: np.ndarray, rows: np.ndarray | None = None
    ) -> None:
        """Set `channel` in every cell of env b to values[b]; with `rows` (int64[n]), only in
        those envs (values[n]): the others are left as they are."""
        slot = self._slot[channel]
        if slot is None:
            return
        if rows is None:
            rows = slice(None)
        if self._ego:
            h, w, r = *self.shape, self._r
            s.obs[rows, r : r + h, r : r + w, slot] = values[:, None, None]
        else:
            s.obs[rows, slot] = values[:, None]

    # --- dynamics -----------------------------------------------------------------------------
    def move(self, s: State, actions: np.ndarray) -> np.ndarray:
        """Move agents unless blocked; keep the agent channel current. Returns the old positions."""
        old = s.pos
        new = old + self._delta[actions]
        s.pos = np.where(s.obstacle[s.rows, new], old, new)
        self.write(s, "agent", old, 0)
        self.write(s, "agent", s.pos, 1)
        return old

    def step(self, s: State, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every env one step. Returns objectives float32[K, B] (row 0 = base; the reward is row `reward_index`),
        measures float32[M, B], terminated bool[B]."""
        raise NotImplementedError

    # --- observations -------------------------------------------------------------------------
    @property
    def obs_channels(self) -> tuple[str, ...]:
        """Channel names of the observation, in order (egocentric drops the agent channel)."""
        if self.view == "full":
            return self.channels
        return tuple(c for c in self.channels if c != "agent")

    @property
    def obs_shape(self) -> tuple[int, int, int]:
        if self.view == "full":
            return (len(self.channels), *self.shape)
        side = 2 * self._r + 1
        return (len(self.obs_channels), side, side)

    def observation(self, s: State) -> np.ndarray:
        """uint8[B, *obs_shape]: a fresh array (safe to keep) in the configured view."""
        n = len(s.pos)
        if not self._ego:
            return s.obs.reshape(n, *self.obs_shape).copy()
        side = 2 * self._r + 1
        windows = sliding_window_view(s.obs, (side, side), axis=(1, 2))  # [B, H, W, C, V, V]
        row, col = np.divmod(s.pos, self.shape[1])
        return windows[s.rows, row, col]  # advanced indexing copies: [B, C, V, V]
