"""The table of tasks: one row per task, each row a task file whose `SPEC` (`mesaworld.envs.spec.TaskSpec`)
declares the task.

Adding a task = one file in `envs/tasks/` that defines `SPEC`, plus its module in the rows below
(or a call to `register_task(spec)` from anywhere, e.g. a test or a notebook). It then gets three Gymnasium ids
(`mesaworld/<IdName>-v0` with a `split` kwarg, `-Train-v0`, `-Deploy-v0`), its presets, baselines
and metrics, and the registry-driven tests cover it.
"""

from __future__ import annotations

import gymnasium as gym
from mesaworld.envs.spec import TaskSpec, TaskSpecError
from mesaworld.envs.tasks import (
    cheese_maze,
    coin,
    keys_chests,
    lava,
    roomba,
    storeroom,
    supervisor,
    which_object,
)

NAMESPACE = "mesaworld"
SPLIT_SUFFIXES = (("", {}), ("-Train", {"split": "train"}), ("-Deploy", {"split": "deploy"}))

TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to `TASKS` and register its Gymnasium ids. Names and presets must be new."""
    if not isinstance(spec, TaskSpec):
        raise TaskSpecError(f"register_task takes a TaskSpec, got {type(spec).__name__}")
    if spec.name in TASKS:
        raise TaskSpecError(f"task {spec.name!r}: name: already registered")
    for other in TASKS.values():
        if other.id_name == spec.id_name:
            raise TaskSpecError(f"task {spec.name!r}: id_name: {spec.id_name!r} is taken")
        taken = {p.name for p in other.presets} & {p.name for p in spec.presets}
        if taken:
            raise TaskSpecError(
                f"task {spec.name!r}: presets: {sorted(taken)} taken by {other.name}"
            )
    TASKS[spec.name] = spec
    for suffix, kwargs in SPLIT_SUFFIXES:
        env_id = f"{NAMESPACE}/{spec.id_name}{suffix}-v0"
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="mesaworld.envs.gym_env:GridEnv",
                vector_entry_point="mesaworld.envs.gym_env:GridVectorEnv",
                kwargs={"task": spec.name, **kwargs},
                disable_env_checker=False,
            )
    return spec


def unregister_task(name: str) -> None:
    """Remove a task and its ids (for tests that register a task of their own)."""
    spec = TASKS.pop(name)
    for suffix, _ in SPLIT_SUFFIXES:
        gym.registry.pop(f"{NAMESPACE}/{spec.id_name}{suffix}-v0", None)


def env_id(task: str, split: str | None = None) -> str:
    """The registered id of a task: `mesaworld/Roomba-v0`, or with a split `-Train-v0`."""
    stem = f"{NAMESPACE}/{get_task(task).id_name}"
    return f"{stem}-{split.capitalize()}-v0" if split else f"{stem}-v0"


def env_ids(task: str | None = None) -> list[str]:
    """Every registered id (of one task, if given)."""
    names = [get_task(task).name] if task else list(TASKS)
    return [
        f"{NAMESPACE}/{TASKS[n].id_name}{suffix}-v0" for n in names for suffix, _ in SPLIT_SUFFIXES
    ]


def canonical(name: str) -> str:
    """A task name as typed ('cheese_maze', 'Cheese-Maze', 'CheeseMaze') -> its registered name."""
    key = str(name).strip().lower().replace("_", "-")
    if key in TASKS:
        return key
    for spec in TASKS.values():
        if spec.id_name.lower() == key:
            return spec.name
    return key


def get_task(name: str) -> TaskSpec:
    """The spec of a task by any of its spellings; ValueError listing the known tasks."""
    key = canonical(name)
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[key]


def register_module(module) -> TaskSpec:
    """Register the task a task file declares (its module-level `SPEC`)."""
    spec = getattr(module, "SPEC", None)
    if spec is None:
        raise TaskSpecError(f"{module.__name__}: defines no SPEC (a TaskSpec for its task)")
    return register_task(spec)


# The rows: one per task file.
for _module in (roomba, cheese_maze, keys_chests, coin, lava, supervisor, storeroom, which_object):
    register_module(_module)
