"""Playing a policy on fixed levels with a hook before every step: the machinery the probes
(`mesaworld.experiments.instruments.basin`, `mesaworld.experiments.instruments.retarget`, `mesaworld.experiments.instruments.linear_probes`) share.

A policy is what `mesaworld.experiments.training.evaluate` plays: `view`, `act(obs, rng) -> int64[B]`, and an
optional `begin(n)` (a recurrent network's fresh memory; a scripted agent's reset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.planning import bfs_distances
from mesaworld.envs.registry import get_task


@dataclass
class Played:
    """positions int64[n, T+1]: the agent's cell before each step (after any hook) and after its
    last step, -1 past the episode's end; actions int64[n, T] (-1 past the end); length int64[n]."""

    positions: np.ndarray
    actions: np.ndarray
    length: np.ndarray


def play(policy, task: str, codes: np.ndarray, seed: int, hook=None) -> Played:
    """One episode on every level (uint8[n, H, W] codes), all stepped as one batch. `hook(t,
    engine, live)` runs before step t and may change the engine's state (a perturbation) or the
    policy (an edit); `live` bool[n] marks episodes still running."""
    n = len(codes)
    engine = make_engine(task, n, autoreset=False, view=policy.view)
    engine.load_codes(codes)
    if hasattr(policy, "begin"):
        policy.begin(n)
    rng = np.random.default_rng(seed)
    steps = int(engine.task.max_steps)
    positions = np.full((n, steps + 1), -1, np.int64)
    taken = np.full((n, steps), -1, np.int64)
    length = np.zeros(n, np.int64)
    done = np.zeros(n, bool)
    for t in range(steps):
        if done.all():
            break
        if hook is not None:
            hook(t, engine, ~done)
        live = ~done
        positions[live, t] = engine.state.pos[live]
        actions = np.asarray(policy.act(engine.task.observation(engine.state), rng), np.int64)
        out = engine.step(actions)
        taken[live, t] = actions[live]
        length[live] += 1
        ended = out["done"] & live
        positions[ended, t + 1] = engine.state.pos[ended]
        done |= out["done"]
    return Played(positions, taken, length)


def full_observations(engine) -> np.ndarray:
    """uint8[n, C, H, W]: the full-view observation of every env as it is now, whatever view
    the engine serves (targets and oracles read the full view)."""
    if engine.task.view == "full":
        return engine.task.observation(engine.state)
    codes = np.stack([engine.task.to_codes(engine.state, i) for i in range(engine.num_envs)])
    full = make_engine(engine.task.name, len(codes), autoreset=False, view="full")
    full.load_codes(codes)
    return full.task.observation(full.state)


def target_sets(task: str, obs: np.ndarray, own: bool = True) -> dict[str, np.ndarray]:
    """bool[n, H, W] per objective with targets: the base's target cells and each proxy's own
    (its targets minus the base's: the Roomba's cans, the corner when the cheese is elsewhere;
    `own=False`: all its targets, e.g. every cell the dust sensor lights up)."""
    spec = get_task(task)
    if spec.targets is None:
        raise ValueError(f"task {task!r} declares no target cells (TaskSpec.targets)")
    sets = {k: np.asarray(v, bool) for k, v in spec.targets(obs).items()}
    base = sets["base"]
    return {k: (v if k == "base" or not own else v & ~base) for k, v in sets.items()}


def channel(task: str, obs: np.ndarray, name: str) -> np.ndarray:
    """bool[n, H, W]: one named channel of full-view observations."""
    return obs[:, get_task(task).task_cls.channels.index(name)] > 0


def plain_floor(task: str, obs: np.ndarray) -> np.ndarray:
    """bool[n, H, W]: passable cells that are no objective's target and not the agent's."""
    spec = get_task(task)
    busy = channel(task, obs, "obstacle") | channel(task, obs, "agent")
    for cells in spec.targets(obs).values():
        busy |= np.asarray(cells, bool)
    return ~busy


def distances_from(obs_obstacle: np.ndarray, cell: int) -> np.ndarray:
    """float[H, W] shortest move counts from flat `cell` over the non-obstacle cells."""
    h, w = obs_obstacle.shape
    return bfs_distances(~obs_obstacle.reshape(-1), int(cell), (h, w)).reshape(h, w)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (valid at small n and at 0 or n successes)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
