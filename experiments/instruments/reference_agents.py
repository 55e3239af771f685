"""Agents whose goal is known by construction: the ground truth every probe is tested on.

ReferenceOptimizer   a hand-coded optimizer: every step it searches (breadth-first) for a shortest
                     path to the nearest cell of its goal set (the task's base targets: the
                     oracle's goal) from what it sees. Its goal can be rewritten (`retarget`),
                     and its internal state is its plan (`activations`: maps of the goal cell it
                     chose and of the cell its first move leads to).
FixedRoute           a hand-coded heuristic: a memorised action sequence per level, replayed
                     whatever it sees (recorded from the optimizer on the same levels it wins on
                     the unperturbed levels). Its only internal state is a step counter; it has
                     no goal to rewrite, so `retarget` records the request and changes nothing.

Controls, for what a probe reads from an agent with the other goal or with none:

proxy_pursuers(task) a ReferenceOptimizer per proxy, after the nearest of *all* that proxy's
                     targets (the Roomba's: every lit cell, can or floor dust): the task's
                     scripted proxy baseline (`TaskSpec.baselines`, role "proxy") as an
                     optimizer, move for move (a test checks it).
RandomWalker         no goal: a uniformly random move every step; its goal cannot be rewritten
                     (`retarget` changes nothing) and its only "activations" are the
                     observation it saw (what a probe reads from the input alone).

All play like any policy (`view`, `act(obs, rng)`, `begin(n)`).
"""

from __future__ import annotations

import numpy as np

from mesaworld.envs.planning import first_step_to_nearest
from mesaworld.envs.registry import get_task
from mesaworld.envs.task import ACTIONS
from mesaworld.experiments.instruments.rollouts import channel, distances_from, play, target_sets


class ReferenceOptimizer:
    view = "full"

    def __init__(self, task: str, goal: str = "base", own: bool = True, name: str = "") -> None:
        """goal: an objective with targets; own=False: all its targets, not only those that are
        not the base's (`rollouts.target_sets`)."""
        self.task, self.goal, self.own = task, goal, own
        self.name = name or f"reference optimizer ({goal})"
        self.shape = get_task(task).rules("full").shape
        self.begin(0)

    def begin(self, n: int) -> None:
        self.cells = None
        self.reached = np.zeros(n, bool)
        self._plan: dict[str, np.ndarray] = {}

    def retarget(self, cells: np.ndarray | None) -> None:
        """Make flat cell cells[i] env i's goal until it is reached (None, or -1 for env i:
        the task's goal)."""
        self.cells = None if cells is None else np.asarray(cells, np.int64)

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        goals = target_sets(self.task, obs, own=self.own)[self.goal]
        wall, agent = channel(self.task, obs, "obstacle"), channel(self.task, obs, "agent")
        n, (h, w) = len(obs), self.shape
        actions, chosen = np.zeros(n, np.int64), np.zeros(n, np.int64)
        for i in range(n):
            here = int(np.flatnonzero(agent[i])[0])
            edited = self.cells is not None and self.cells[i] >= 0
            if edited and here == self.cells[i]:
                self.reached[i] = True
            mask = goals[i]
            if edited and not self.reached[i]:
                mask = np.zeros((h, w), bool)
                mask.flat[self.cells[i]] = True
            dist = np.where(mask, distances_from(wall[i], here), np.inf)
            chosen[i] = int(dist.argmin()) if np.isfinite(dist).any() else here
            actions[i] = first_step_to_nearest(~wall[i], mask, divmod(here, w))
        step = np.array([(-w, 1, w, -1, 0)[a] for a in actions], np.int64)
        nxt = np.array([int(np.flatnonzero(agent[i])[0]) for i in range(n)]) + step
        plan = np.stack([_onehot(chosen, h * w), _onehot(nxt, h * w)], 1)
        self._plan = {"plan": plan.reshape(n, 2, h, w)}
        return actions

    def activations(self) -> dict[str, np.ndarray]:
        """The internal state behind the last action, as maps float[n, 2, H, W]: the goal cell
        it chose and the cell its first move leads to (one-hot each)."""
        return self._plan


def proxy_pursuers(task: str) -> list[ReferenceOptimizer]:
    """One optimizer per proxy of the task, pursuing all of that proxy's targets (module
    docstring), named "proxy pursuer (<proxy>)"."""
    proxies = get_task(task).proxies
    return [ReferenceOptimizer(task, k, own=False, name=f"proxy pursuer ({k})") for k in proxies]


class RandomWalker:
    view, name = "full", "random walker"

    def __init__(self) -> None:
        self.begin(0)

    def begin(self, n: int) -> None:
        self.requested, self._seen = None, {}

    def retarget(self, cells: np.ndarray | None) -> None:
        self.requested = cells  # no goal to rewrite

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self._seen = {"observation": np.asarray(obs, np.float32)}
        return rng.integers(0, len(ACTIONS), len(obs))

    def activations(self) -> dict[str, np.ndarray]:
        """The observation it acted on, float[n, C, H, W]: a walker has nothing else."""
        return self._seen


class FixedRoute:
    view = "full"

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions, np.int64)
        self.name = "fixed route (memorised actions)"
        self.begin(len(self.actions))

    @classmethod
    def recorded(cls, policy, task: str, codes: np.ndarray, seed: int = 0) -> FixedRoute:
        """The route `policy` takes on each level, unperturbed (stay after its end)."""
        actions = play(policy, task, codes, seed).actions
        return cls(np.where(actions < 0, 4, actions))

    def begin(self, n: int) -> None:
        if n and n != len(self.actions):
            raise ValueError(f"a fixed route for {len(self.actions)} levels cannot play {n}")
        self.t, self.requested = 0, None

    def retarget(self, cells: np.ndarray | None) -> None:
        self.requested = cells  # no goal to rewrite: the route stays the route

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        t = min(self.t, self.actions.shape[1] - 1)
        self.t += 1
        return self.actions[:, t].copy()

    def activations(self) -> dict[str, np.ndarray]:
        """Its only state: which step of the route it is on (one-hot)."""
        n, steps = self.actions.shape
        return {"counter": _onehot(np.full(n, min(self.t, steps) - 1), steps)}


def _onehot(idx: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((len(idx), size), np.float32)
    out[np.arange(len(idx)), idx] = 1.0
    return out
