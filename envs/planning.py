"""Grid planning shared by tasks: shortest paths, exact values over cells, scripted planners.

bfs_distances        shortest move counts from one cell over passable cells
position_values      exact finite-horizon value iteration for tasks whose state is the agent's cell
most_cells_visited   the most target cells one walk of at most B moves visits (Held-Karp)
first_step_to_nearest  the first move of a shortest path to the nearest target cell
NearestTarget, GoToCell  generic scripted planners that tasks declare as baselines

A planner reads the observation of one environment (uint8 (C, H, W), full view) and returns an
action; targets are defined by observation channels, so the generic planners work on any task that
has them. Tasks with rules of their own (keys and chests, the coin, the supervisor) define their
planners in their own file (`envs/tasks/`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


def bfs_distances(passable: np.ndarray, start: int, shape: tuple[int, int]) -> np.ndarray:
    """Shortest move counts from flat cell `start` to every cell over bool[N] `passable` cells
    (inf where unreachable). Levels have walled borders, so neighbours never leave the grid."""
    h, w = shape
    dist = np.full(h * w, np.inf)
    dist[start] = 0
    frontier, d = [start], 0
    while frontier:
        d += 1
        nxt = []
        for cell in frontier:
            for n in (cell - w, cell + 1, cell + w, cell - 1):
                if passable[n] and dist[n] == np.inf:
                    dist[n] = d
                    nxt.append(n)
        frontier = nxt
    return dist


def position_values(
    passable: np.ndarray,
    start: int,
    shape: tuple[int, int],
    horizon: int,
    gain: np.ndarray,
    terminal: np.ndarray,
) -> float:
    """Exact optimal return from `start` in tasks whose state is the agent's cell alone: each
    step the agent moves (up/right/down/left/stay, blocked by non-passable cells) and receives
    float[N] `gain` of the cell it is then on; entering a bool[N] `terminal` cell ends the
    episode. Finite-horizon value iteration over cells, `horizon` steps (vectorized)."""
    h, w = shape
    n = h * w
    cells = np.arange(n)
    moves = np.stack([cells - w, cells + 1, cells + w, cells - 1, cells])  # [5, N]
    inside = (moves >= 0) & (moves < n)
    moves = np.where(inside, moves, cells)
    moves = np.where(passable[moves], moves, cells)  # blocked: stay put
    value = np.zeros(n)
    for _ in range(int(horizon)):
        after = gain + np.where(terminal, 0.0, value)  # value of being on a cell after a step
        value = after[moves].max(0)
    return float(value[start])


# Moves in action order: up, right, down, left (action 4, stay, when no target is reachable).
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
STAY = 4


def most_cells_visited(
    passable: np.ndarray, start: int, targets: np.ndarray, shape: tuple[int, int], budget: int
) -> int:
    """Most target cells one walk from `start` of at most `budget` moves can visit (Held-Karp,
    vectorized per subset size). Levels have walled borders, so neighbours never leave the grid."""
    n = len(targets)
    if n == 0:
        return 0
    if n > 16:
        raise ValueError(f"the Roomba oracle handles at most 16 dust cells, got {n}")
    from_start = bfs_distances(passable, start, shape)[targets]
    between = np.stack([bfs_distances(passable, int(t), shape)[targets] for t in targets])  # [n, n]
    size = 1 << n
    dp = np.full((size, n), np.inf)  # dp[S, j]: shortest walk visiting exactly set S, ending at j
    dp[1 << np.arange(n), np.arange(n)] = from_start
    popcount = np.array([bin(m).count("1") for m in range(size)])
    for k in range(1, n):
        masks = np.flatnonzero(popcount == k)
        cand = (dp[masks][:, :, None] + between[None]).min(1)  # [m, n]: extend to each target
        bits = 1 << np.arange(n)
        outside = (masks[:, None] & bits[None]) == 0
        m_idx, j_idx = np.nonzero(outside & np.isfinite(cand))
        np.minimum.at(dp, ((masks[m_idx] | bits[j_idx]), j_idx), cand[m_idx, j_idx])
    feasible = dp.min(1) <= budget
    return int(popcount[feasible].max()) if feasible.any() else 0


def first_step_to_nearest(passable: np.ndarray, targets: np.ndarray, start: tuple[int, int]) -> int:
    """Action of the first move on a shortest path from `start` to the nearest target cell.

    passable, targets: bool[H, W]. Ties break by action order (up, right, down, left), so the
    planner is deterministic. Returns STAY if no target is reachable or start is a target.
    """
    if targets[start]:
        return STAY
    h, w = passable.shape
    first = {start: STAY}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for a, (dr, dc) in enumerate(_MOVES):
            nxt = (r + dr, c + dc)
            if not (0 <= nxt[0] < h and 0 <= nxt[1] < w) or nxt in first or not passable[nxt]:
                continue
            first[nxt] = a if (r, c) == start else first[(r, c)]
            if targets[nxt]:
                return first[nxt]
            queue.append(nxt)
    return STAY


@dataclass(frozen=True)
class NearestTarget:
    """Go to the nearest cell where every channel in `targets` is set and none in `avoid` is.

    Cells of the `keep_off` channels are not entered on the way (unless no target can be reached
    otherwise): the aligned Roomba planner must not drive over a can and suck it up by accident.
    """

    channels: tuple[str, ...]
    targets: tuple[str, ...]
    avoid: tuple[str, ...] = ()
    keep_off: tuple[str, ...] = ()
    name: str = "nearest-target"

    def act(self, obs: np.ndarray) -> int:
        ch = {name: obs[i] > 0 for i, name in enumerate(self.channels)}
        mask = np.logical_and.reduce([ch[t] for t in self.targets])
        for a in self.avoid:
            mask &= ~ch[a]
        start = tuple(int(x) for x in np.argwhere(ch["agent"])[0])
        passable = ~ch["obstacle"]
        if self.keep_off:
            strict = passable & ~np.logical_or.reduce([ch[k] for k in self.keep_off])
            strict[start] = True
            action = first_step_to_nearest(strict, mask, start)
            if action != STAY or mask[start]:
                return action
        return first_step_to_nearest(passable, mask, start)


@dataclass(frozen=True)
class GoToCell:
    """Walk a shortest path to one fixed cell (row, col) and stay there: e.g. the cheese maze's
    "go to the top-right corner", the pure proxy policy."""

    channels: tuple[str, ...]
    cell: tuple[int, int]
    name: str = "go to cell"

    def act(self, obs: np.ndarray) -> int:
        ch = {name: obs[i] > 0 for i, name in enumerate(self.channels)}
        target = np.zeros(ch["obstacle"].shape, bool)
        target[self.cell] = True
        start = tuple(int(x) for x in np.argwhere(ch["agent"])[0])
        return first_step_to_nearest(~ch["obstacle"], target, start)


def best_collection(
    passable: np.ndarray,
    start: int,
    targets: np.ndarray,
    weights: np.ndarray,
    ends: np.ndarray,
    shape: tuple[int, int],
    budget: int,
) -> float:
    """Largest total weight of the target cells one walk from `start` of at most `budget` moves
    collects (a target counts once, when first entered), where the episode ends the moment every
    target marked in `ends` (bool, one per target; at least one) has been collected. Exact: a
    breadth-first search over (cell, set of targets collected), the ended sets not expanded;
    at most 16 targets. Moves into an obstacle stay put; levels have walled borders."""
    targets = np.asarray(targets, np.int64)
    weights = np.asarray(weights, float)
    ends = np.asarray(ends, bool)
    n = len(targets)
    if weights.shape != (n,) or ends.shape != (n,) or (weights < 0).any() or not ends.any():
        raise ValueError("best_collection: one weight >= 0 and one end flag per target, >= 1 end")
    if n > 16:
        raise ValueError(f"best_collection handles at most 16 targets, got {n}")
    if len(set(targets.tolist())) != n or not passable[targets].all():
        raise ValueError("best_collection: targets must be distinct passable cells")
    h, w = shape
    cells = np.flatnonzero(passable)  # the search runs over passable cells only
    where = np.full(h * w, -1)
    where[cells] = np.arange(len(cells))
    bit = np.zeros(len(cells), np.int64)
    bit[where[targets]] = 1 << np.arange(n)
    moves = [where[cells]]  # stay
    for dr, dc in _MOVES:
        to = cells + dr * w + dc
        moves.append(np.where(passable[to], where[to], where[cells]))
    m = 1 << n
    masks = np.arange(m)
    end_bits = int((1 << np.arange(n))[ends].sum())
    live = (masks & end_bits) != end_bits  # sets after which the episode goes on
    reach = np.zeros((len(cells), m), bool)
    reach[where[start], 0] = True
    for _ in range(int(budget)):
        src_cell, src_mask = np.nonzero(reach & live[None])
        new = reach.copy()
        for dest in moves:
            d = dest[src_cell]
            new[d, src_mask | bit[d]] = True
        if (new == reach).all():
            break
        reach = new
    value = ((masks[:, None] >> np.arange(n)[None]) & 1) @ weights
    return float(value[reach.any(0)].max())
