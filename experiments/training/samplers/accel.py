"""ACCEL (Parker-Holder et al. 2022, "Evolving Curricula with Regret-Based Environment Design"):
robust PLR on the pool plus small edits of high-scoring levels, scored by positive value loss
(`accel`, the paper's) or by exact regret (`accel-regret`).

Decisions:
- **The edits.** No task declares level-edit operations yet, so ACCEL uses two edits every task
  shares: toggle an interior wall cell and a floor cell (`#` <-> `.`), and move the agent to
  another floor cell. Neither adds, removes or moves any object (cheese, cans, keys, chests),
  so an edit never turns a level into a distinguishing one: the pool's alpha holds for the
  edited levels too (an edit that moved the cheese out of the corner would leak deploy levels
  into training). An edited level must pass the task's `check`, or it is not used (the parent
  is replayed instead); `NUM_EDITS` = 5 edits per child.
- **Per reset** (as PLR here): with probability `replay_prob` replay a scored level from the
  replay distribution (trains); otherwise, by a coin flip, explore a never-drawn pool level
  (while any remain) or edit a parent drawn from the replay distribution (its high-scoring
  levels) and play the child. Exploration and edited episodes do not train (robust); they are
  scored, and a child that scores high is replayed like any pool level. Before anything is
  scored, ACCEL starts as PLR does (exploring the pool).
- **Room for children.** The sampler keeps the pool plus as many slots for edited levels; when
  they are full, a child replaces the edited level with the lowest score that no env is playing
  (never a pool level). The children's codes are in the sampler's state, so a resume is exact.
"""

from __future__ import annotations

import numpy as np

from mesaworld.envs.level import AGENT, FLOOR, WALL, Level, LevelError
from mesaworld.experiments.training.samplers.plr import STALENESS, TEMPERATURE, RobustPLR
from mesaworld.experiments.training.samplers.sampler import INT_ARRAYS, LEVEL_ARRAYS

NUM_EDITS = 5
_WALL, _FLOOR, _AGENT = (ord(c) for c in (WALL, FLOOR, AGENT))


def edit_level(codes: np.ndarray, rng: np.random.Generator, n_edits: int) -> np.ndarray:
    """A copy of `codes` (uint8[H, W]) with `n_edits` random wall toggles / agent moves inside
    the border; objects are never touched."""
    out = codes.copy()
    inner = out[1:-1, 1:-1]  # a view: edits land in `out`
    for _ in range(n_edits):
        if rng.random() < 0.5:
            cells = np.flatnonzero((inner == _WALL) | (inner == _FLOOR))
            if len(cells):
                c = cells[rng.integers(len(cells))]
                inner.flat[c] = _FLOOR if inner.flat[c] == _WALL else _WALL
        else:
            floor = np.flatnonzero(inner == _FLOOR)
            agent = np.flatnonzero(inner == _AGENT)
            if len(floor) and len(agent):
                inner.flat[agent[0]] = _FLOOR
                inner.flat[floor[rng.integers(len(floor))]] = _AGENT
    return out


class ACCEL(RobustPLR):
    score_kind = "pvl"

    def __init__(self, codes, task, num_envs, seed, replay_prob: float = 0.5):
        pool = len(codes)
        room = np.concatenate([codes, np.zeros_like(codes)])  # pool + as many children
        super().__init__(room, task, num_envs, seed, replay_prob=replay_prob)
        self.size = pool
        self.pool = pool
        self.rejected = 0  # edits the task's check refused (reported by tests and benchmarks)

    def choose(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        p = self.prioritized(self.score, TEMPERATURE, STALENESS)
        if p.sum() == 0:  # nothing scored yet: PLR's own start (explore the pool)
            return super().choose(n)
        levels, train = np.empty(n, np.int64), np.ones(n, bool)
        replay = self.rng.random(n) < self.replay_prob
        levels[replay] = self.pick(p, int(replay.sum()))
        rest = np.flatnonzero(~replay)
        # The others: a never-drawn pool level (by a coin flip, while any remain) or a child.
        coin = rest[self.rng.random(len(rest)) < 0.5]
        fresh = self.unseen(len(coin))
        levels[coin[: len(fresh)]] = fresh
        train[rest] = False
        busy = list(self.current)
        for i in np.setdiff1d(rest, coin[: len(fresh)]):
            parent = int(self.pick(p, 1)[0])
            child = edit_level(self.codes[parent], self.rng, NUM_EDITS)
            try:
                self.task.check(Level.from_array(child))
            except LevelError:
                self.rejected += 1
                levels[i], train[i] = parent, True  # replay the parent instead
                continue
            slot = self._insert(child, busy)
            if slot is None:  # every child slot is being played: replay the parent
                levels[i], train[i] = parent, True
                continue
            levels[i] = slot
            busy.append(slot)
        return levels, train

    def _insert(self, child: np.ndarray, busy: list) -> int | None:
        """Slot for a new child level: the next free one, else the lowest-scoring child that
        no env is playing (nor is about to); None if there is none."""
        if self.size < len(self.codes):
            slot = self.size
            self.size += 1
        else:
            kids = np.arange(self.pool, len(self.codes))
            free = kids[~np.isin(kids, busy)]
            if len(free) == 0:
                return None
            score = np.where(np.isnan(self.score[free]), -np.inf, self.score[free])
            slot = int(free[np.argmin(score)])
        self.codes[slot] = child
        for name, fill in LEVEL_ARRAYS.items():
            getattr(self, name)[slot] = 0 if name in INT_ARRAYS else fill
        return slot

    def state_dict(self) -> dict:
        out = super().state_dict()
        out["rejected"] = np.array(self.rejected, np.int64)
        return out

    def load_state_dict(self, data: dict) -> None:
        super().load_state_dict(data)
        self.rejected = int(data["rejected"])


class ACCELRegret(ACCEL):
    score_kind = "regret"


ROWS = (
    dict(name="accel", make=ACCEL, about="ACCEL: robust PLR (positive value loss) + edits"),
    dict(name="accel-regret", make=ACCELRegret, about="ACCEL scored by exact regret"),
)
