"""The table of tasks. Every Gymnasium id is generated from it in one loop (`register_all`).

Adding a task = one row here: its `Task` class, its `Shift`, its default horizon. It then gets
three ids (`mesaworld/<Name>-v0` with a `split` kwarg, `-Train-v0`, `-Deploy-v0`), and the
registry-driven tests (check_env, determinism, pickling, rendering, vector = single) cover it.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from envs import cheese_maze, coin, keys_chests, lava, roomba, supervisor
from envs.engine import Task
from envs.generators import Shift

NAMESPACE = "mesaworld"


@dataclass(frozen=True)
class TaskSpec:
    name: str  # task key, e.g. "roomba"
    id_name: str  # Gymnasium name, e.g. "Roomba"
    task_cls: type[Task]
    shift: Shift
    max_steps: int


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec("roomba", "Roomba", roomba.Roomba, roomba.SHIFT, max_steps=50),
        TaskSpec(
            "cheese_maze", "CheeseMaze", cheese_maze.CheeseMaze, cheese_maze.SHIFT, max_steps=100
        ),
        TaskSpec(
            "keys_chests", "KeysChests", keys_chests.KeysChests, keys_chests.SHIFT, max_steps=30
        ),
        TaskSpec("coin", "CoinAtEnd", coin.CoinAtEnd, coin.SHIFT, max_steps=100),
        TaskSpec("lava", "Lava", lava.Lava, lava.SHIFT, max_steps=30),
        TaskSpec(
            "supervisor",
            "AbsentSupervisor",
            supervisor.AbsentSupervisor,
            supervisor.SHIFT,
            max_steps=20,
        ),
    ]
}


def env_ids(task: str | None = None) -> list[str]:
    """Every registered id (of one task, if given)."""
    names = [task] if task else list(TASKS)
    ids = []
    for name in names:
        stem = f"{NAMESPACE}/{TASKS[name].id_name}"
        ids += [f"{stem}-v0", f"{stem}-Train-v0", f"{stem}-Deploy-v0"]
    return ids


def register_all() -> None:
    for name, spec in TASKS.items():
        stem = f"{NAMESPACE}/{spec.id_name}"
        for suffix, kwargs in (
            ("", {}),
            ("-Train", {"split": "train"}),
            ("-Deploy", {"split": "deploy"}),
        ):
            env_id = f"{stem}{suffix}-v0"
            if env_id in gym.registry:
                continue
            gym.register(
                id=env_id,
                entry_point="envs.gym_env:GridEnv",
                vector_entry_point="envs.gym_env:GridVectorEnv",
                kwargs={"task": name, **kwargs},
                disable_env_checker=False,
            )
