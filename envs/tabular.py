"""Tabular export: a level set as an explicit finite MDP, built by stepping the engine itself.

`export(task, codes)` explores every state reachable from the levels' start states by
breadth-first search. Each frontier state is copied into 5 engine rows, one per action, and the
task's own vectorized `step` runs on all of them at once; a successor is identified by the bytes
of all of its state arrays (agent cell *and* object state: dust left, coin taken, keys held,
...). So the table is exact by construction, for every task, with no second implementation of
the rules that could drift from the engine.

The dynamics of every task are deterministic, so transitions are a successor table
`next[S, A]` (a sparse matrix with one entry per row, stored as indices; `transition_matrix`
gives the scipy form). A step flagged `terminal` ends the episode: its successor is never acted
from and its future value is 0. The horizon is metadata (`TabularMDP.horizon`): states carry no
clock, as in the engine, and planners on the table count the steps left.

Several levels export into one MDP, their disjoint union (`level[s]` says whose state `s` is,
`start[l]` is level l's start state), so inverse RL can fit one reward to behaviour on a whole
level set and EPIC can compare rewards over it.

States are keyed by a 16-byte BLAKE2b digest of their arrays rather than the arrays themselves
(a Roomba state is ~1.6 kB): memory stays ~100 bytes per state, and a collision would need
~2^64 states.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from mesaworld.envs.task import ACTIONS, State, Task

N_ACTIONS = len(ACTIONS)
# Arrays that are views of the state rather than state: the observation buffer (rebuilt from
# the state), the row index and the clock (the horizon belongs to the planner, not the state).
_NOT_STATE = ("obs", "rows", "t")
# Simple features every task has, beside its objectives and measures (see `features`).
BASIC_FEATURES = ("step", "stay")


class ExportError(ValueError):
    """A level set too large to export, or a task whose state cannot be tabulated."""


@dataclass
class TabularMDP:
    """A finite deterministic MDP: S states, A = 5 actions (up, right, down, left, stay).

    next        int64[S, A]      the state after taking action a in state s
    terminal    bool[S, A]       the step ends the episode (the successor is never acted from)
    rewards     float64[K, S, A] what each objective pays for the step (K = len(objectives))
    measures    float64[M, S, A] the task's per-step measures (e.g. lava, shortcut)
    pos         int64[S]         the agent's cell (flat r * W + c) in state s
    next_pos    int64[S, A]      the agent's cell after the step
    level       int64[S]         which exported level state s belongs to
    start       int64[L]         each level's start state
    levels      uint8[L, H, W]   the exported levels' char codes
    """

    task: str
    objectives: tuple[str, ...]
    measure_names: tuple[str, ...]
    reward_name: str
    horizon: int
    shape: tuple[int, int]
    next: np.ndarray
    terminal: np.ndarray
    rewards: np.ndarray
    measures: np.ndarray
    pos: np.ndarray
    next_pos: np.ndarray
    level: np.ndarray
    start: np.ndarray
    levels: np.ndarray
    _keys: dict[bytes, int] = field(default_factory=dict, repr=False)

    @property
    def n_states(self) -> int:
        return len(self.pos)

    @property
    def n_actions(self) -> int:
        return self.next.shape[1]

    def reward(self, name: str) -> np.ndarray:
        """float64[S, A]: what objective `name` pays for each step."""
        if name not in self.objectives:
            raise KeyError(f"{self.task} has no objective {name!r}; it has {self.objectives}")
        return self.rewards[self.objectives.index(name)]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every named feature `features` can build: objectives, measures, then the basics."""
        return (*self.objectives, *self.measure_names, *BASIC_FEATURES)

    def features(self, names: tuple[str, ...] | list[str] | None = None) -> np.ndarray:
        """float64[S, A, F] per-step feature values, F = len(names) (default: all of
        `feature_names`). An objective or measure is what it pays for the step; "step" is 1 on
        every step (a per-step cost or bonus); "stay" is 1 when the agent's cell does not change
        (the stay action, or a move into an obstacle)."""
        names = self.feature_names if names is None else tuple(names)
        cols = []
        for name in names:
            if name in self.objectives:
                cols.append(self.rewards[self.objectives.index(name)])
            elif name in self.measure_names:
                cols.append(self.measures[self.measure_names.index(name)])
            elif name == "step":
                cols.append(np.ones(self.next.shape))
            elif name == "stay":
                cols.append((self.next_pos == self.pos[:, None]).astype(np.float64))
            else:
                raise KeyError(
                    f"unknown feature {name!r}; {self.task} has {', '.join(self.feature_names)}"
                )
        return np.stack(cols, axis=-1) if cols else np.zeros((*self.next.shape, 0))

    def transition_matrix(self, action: int):
        """scipy.sparse CSR [S, S]: P(s' | s, action), with terminal steps' rows left empty."""
        live = ~self.terminal[:, action]
        rows = np.flatnonzero(live)
        return sparse.csr_matrix(
            (np.ones(len(rows)), (rows, self.next[rows, action])),
            shape=(self.n_states, self.n_states),
        )

    def locate(self, state: State, i: int, level: int) -> int:
        """The index of environment i's current engine state (a state of exported level
        `level`); KeyError if the export never reached it."""
        key = _digests({k: v[i : i + 1] for k, v in _state_arrays(state).items()}, [level])[0]
        return self._keys[key]

    def replay(self, level: int, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Follow int[T] `actions` from level `level`'s start state until a terminal step or the
        end of `actions`. Returns (states int64[n], actions int64[n]): the steps taken."""
        s = int(self.start[level])
        states, taken = [], []
        for a in np.asarray(actions, np.int64):
            if len(states) >= self.horizon:
                break
            if not 0 <= a < self.n_actions:
                raise ValueError(f"action {int(a)} out of range [0, {self.n_actions})")
            states.append(s)
            taken.append(int(a))
            if self.terminal[s, a]:
                break
            s = int(self.next[s, a])
        return np.array(states, np.int64), np.array(taken, np.int64)


def _state_arrays(s: State) -> dict[str, np.ndarray]:
    return {k: v for k, v in sorted(vars(s).items()) if k not in _NOT_STATE}


def _digests(arrays: dict[str, np.ndarray], levels) -> list[bytes]:
    """One 16-byte key per row: the row's level and the bytes of all its state arrays."""
    n = len(levels)
    parts = [np.asarray(levels, np.int64).reshape(n, 1).view(np.uint8)]
    for v in arrays.values():
        parts.append(np.ascontiguousarray(v).reshape(n, -1).view(np.uint8))
    rows = np.concatenate(parts, axis=1)
    return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]


def _expand(task: Task, part: dict[str, np.ndarray], part_level: np.ndarray, keys: dict):
    """Step n states with every action. Returns the block of their rows (next, terminal,
    objectives, measures, next_pos) and the states seen for the first time (arrays, level, pos);
    new states get the next indices in `keys`."""
    n = len(part_level)
    s = task.alloc(n * N_ACTIONS)
    for k, v in part.items():
        setattr(s, k, np.repeat(v, N_ACTIONS, axis=0))
    actions = np.tile(np.arange(N_ACTIONS, dtype=np.int64), n)
    objectives, measures, terminated = task.step(s, actions)
    after = _state_arrays(s)
    after_level = np.repeat(part_level, N_ACTIONS)
    nxt = np.empty(n * N_ACTIONS, np.int64)
    fresh = []
    for j, key in enumerate(_digests(after, after_level)):
        if terminated[j]:
            nxt[j] = -1  # filled by the caller with the acting state itself
            continue
        idx = keys.get(key)
        if idx is None:
            idx = keys[key] = len(keys)
            fresh.append(j)
        nxt[j] = idx
    fresh = np.array(fresh, np.int64)
    block = (
        nxt.reshape(n, N_ACTIONS),
        np.asarray(terminated, bool).reshape(n, N_ACTIONS),
        np.asarray(objectives, np.float64).reshape(-1, n, N_ACTIONS),
        np.asarray(measures, np.float64).reshape(-1, n, N_ACTIONS),
        s.pos.reshape(n, N_ACTIONS).copy(),
    )
    return block, {k: v[fresh] for k, v in after.items()}, after_level[fresh], s.pos[fresh].copy()


def export(
    task: Task,
    codes: np.ndarray,
    horizon: int | None = None,
    max_states: int = 2_000_000,
    chunk: int = 8192,
) -> TabularMDP:
    """Every state reachable from the start of each level in uint8[L, H, W] `codes`, with all
    transitions, objectives and measures, as one `TabularMDP` (levels are not validated here:
    pass levels a generator built or `Task.check` accepted). `horizon` defaults to the task's
    `max_steps`. Raises ExportError past `max_states` states."""
    codes = np.asarray(codes, np.uint8)
    if codes.ndim == 2:
        codes = codes[None]
    if codes.ndim != 3 or codes.shape[1:] != task.shape:
        raise ExportError(
            f"{task.name}: levels must be uint8[L, {task.shape[0]}, {task.shape[1]}], "
            f"got shape {codes.shape}"
        )
    n_levels = len(codes)
    root = task.alloc(n_levels)
    task.load(root, np.arange(n_levels), codes)
    frontier = _state_arrays(root)
    frontier_level = np.arange(n_levels, dtype=np.int64)
    keys: dict[bytes, int] = {}
    for key in _digests(frontier, frontier_level):
        keys.setdefault(key, len(keys))
    if len(keys) != n_levels:  # cannot happen: the level index is part of the key
        raise ExportError(f"{task.name}: start states collide")
    pos = [root.pos.copy()]
    level = [frontier_level]
    blocks: list[tuple] = []  # per expanded chunk: next, terminal, objectives, measures, next_pos
    while len(frontier_level):
        new_arrays: list[dict[str, np.ndarray]] = []
        new_levels: list[np.ndarray] = []
        for lo in range(0, len(frontier_level), chunk):
            part = {k: v[lo : lo + chunk] for k, v in frontier.items()}
            block, fresh_arrays, fresh_level, fresh_pos = _expand(
                task, part, frontier_level[lo : lo + chunk], keys
            )
            if len(keys) > max_states:
                raise ExportError(
                    f"{task.name}: more than {max_states:,} reachable states in {n_levels} "
                    "level(s); export fewer levels at a time or raise max_states"
                )
            new_arrays.append(fresh_arrays)
            new_levels.append(fresh_level)
            pos.append(fresh_pos)
            level.append(fresh_level)
            blocks.append(block)
        frontier = {k: np.concatenate([a[k] for a in new_arrays]) for k in frontier}
        frontier_level = np.concatenate(new_levels)
    # States were expanded in index order, so the blocks stack into per-state tables.
    nxt = np.concatenate([b[0] for b in blocks])
    terminal = np.concatenate([b[1] for b in blocks])
    own = np.broadcast_to(np.arange(len(nxt))[:, None], nxt.shape)
    nxt = np.where(terminal, own, nxt)
    return TabularMDP(
        task=task.name,
        objectives=tuple(task.objectives),
        measure_names=tuple(task.measures),
        reward_name=task.reward,
        horizon=int(task.max_steps if horizon is None else horizon),
        shape=task.shape,
        next=nxt,
        terminal=terminal,
        rewards=np.concatenate([b[2] for b in blocks], axis=1),
        measures=np.concatenate([b[3] for b in blocks], axis=1),
        pos=np.concatenate(pos),
        next_pos=np.concatenate([b[4] for b in blocks]),
        level=np.concatenate(level),
        start=np.arange(n_levels, dtype=np.int64),
        levels=codes.copy(),
        _keys=keys,
    )


def optimal_values(mdp: TabularMDP, reward: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """float64[S]: the exact optimal return from each state with `horizon` steps left (default
    the MDP's), by finite-horizon value iteration on the table."""
    value = np.zeros(mdp.n_states)
    for _ in range(mdp.horizon if horizon is None else int(horizon)):
        value = (reward + np.where(mdp.terminal, 0.0, value[mdp.next])).max(1)
    return value


def concat(mdps: list[TabularMDP]) -> TabularMDP:
    """The disjoint union of exports of the same task (levels renumbered in order). The union
    cannot `locate` engine states (its parts can)."""
    if not mdps:
        raise ExportError("nothing to concatenate")
    first = mdps[0]
    offsets = np.cumsum([0] + [m.n_states for m in mdps])
    level_offsets = np.cumsum([0] + [len(m.start) for m in mdps])
    for m in mdps:
        if (m.task, m.shape, m.horizon) != (first.task, first.shape, first.horizon):
            raise ExportError("can only concatenate exports of one task, shape and horizon")
    return TabularMDP(
        task=first.task,
        objectives=first.objectives,
        measure_names=first.measure_names,
        reward_name=first.reward_name,
        horizon=first.horizon,
        shape=first.shape,
        next=np.concatenate([m.next + o for m, o in zip(mdps, offsets)]),
        terminal=np.concatenate([m.terminal for m in mdps]),
        rewards=np.concatenate([m.rewards for m in mdps], axis=1),
        measures=np.concatenate([m.measures for m in mdps], axis=1),
        pos=np.concatenate([m.pos for m in mdps]),
        next_pos=np.concatenate([m.next_pos for m in mdps]),
        level=np.concatenate([m.level + o for m, o in zip(mdps, level_offsets)]),
        start=np.concatenate([m.start + o for m, o in zip(mdps, offsets)]),
        levels=np.concatenate([m.levels for m in mdps]),
    )
