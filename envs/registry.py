"""The table of tasks: one row per task, each row a task file whose `SPEC` (`mesaworld.envs.spec.TaskSpec`)
declares the task.

Adding a task = one file in `envs/tasks/` that defines `SPEC`, plus its module in the rows below
(or a call to `register_task(spec)` from anywhere, e.g. a test or a notebook). It then gets three Gymnasium ids
(`mesaworld/<IdName>-v0` with a `split` kwarg, `-Train-v0`, `-Deploy-v0`), its presets, baselines
and metrics, and the registry-driven tests cover it.

What `SPEC` declares is documented from `SPEC` only: registration appends `describe(spec)` (ids,
objectives, knob, horizon, baselines, presets) to the task class's and the task module's
docstrings, and `mesaworld list` prints the same rows (`spec_rows`). A task file's hand-written
docstrings say what SPEC cannot (what the objectives mean, the distributions, the literature), so a
copied task never carries its original's ids or knob (tests/test_task_docs.py checks).
"""

from __future__ import annotations

import sys
import textwrap

import gymnasium as gym

from mesaworld.envs.spec import TaskSpec, TaskSpecError
from mesaworld.envs.tasks import (
    cheese_maze,
    coin,
    keys_chests,
    lava,
    roomba,
    signpost,
    storeroom,
    storeroom_heavy,
    supervisor,
    which_object,
    which_object_noisy,
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
    _document(spec)
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
    return [i for n in names for i in _ids(TASKS[n])]


def _ids(spec: TaskSpec) -> list[str]:
    return [f"{NAMESPACE}/{spec.id_name}{suffix}-v0" for suffix, _ in SPLIT_SUFFIXES]


# --- documentation generated from SPEC -------------------------------------------------------
DOC_MARK = "Declared by the task's SPEC (generated when the task is registered):"


def spec_rows(spec: TaskSpec) -> list[tuple[str, list[str]]]:
    """What a task's SPEC declares, as (heading, lines): the one source of its generated
    docstring section (`describe`) and of `mesaworld list`."""
    shift, ids = spec.shift, _ids(spec)
    lo, hi = shift.knob_range
    first = f'{ids[0]} (split="train" | "deploy", knob=<{shift.knob_name}>)'
    objectives = [
        k + (" (the reward)" if k == spec.task_cls.reward else "") for k in spec.objectives
    ]
    rows = [("Registered ids", [first, *ids[1:]]), ("Objectives", [", ".join(objectives)])]
    if spec.task_cls.measures:
        rows.append(("Measures", [", ".join(spec.task_cls.measures)]))
    knob = f"{shift.knob_name}, {lo:g} to {hi:g}, default {shift.knob_default:g}"
    rows.append(("Knob", [f"{knob} (train generator field `{shift.knob}`): {shift.knob_doc}"]))
    rows.append(("Horizon", [f"{spec.max_steps} steps (max_steps)"]))
    anchors = spec.anchors().by_role().items()
    rows.append(("Baselines", ["; ".join(f"{role}: {p.name}" for role, p in anchors)]))
    rows.append(("Proxy behaviour", [spec.behaviour.label]))
    demo = spec.demo_preset
    rows.append(("Presets", [f"{p.name}{' (demo)' if p.name == demo else ''}: {p.doc}"
                             for p in spec.presets]))  # fmt: skip
    return rows


def describe(task: str | TaskSpec, indent: str = "") -> str:
    """The docstring section generated from a task's SPEC (`DOC_MARK` and the `spec_rows`)."""
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    out = [indent + DOC_MARK]
    for heading, lines in spec_rows(spec):
        out.append(f"{indent}{heading}:")
        for line in lines:
            out.append(textwrap.fill(line, 96 + len(indent), initial_indent=indent + " " * 4,
                                     subsequent_indent=indent + " " * 8))  # fmt: skip
    return "\n".join(out) + "\n"


def _with_section(doc: str | None, spec: TaskSpec) -> str:
    """`doc` (its own generated section, if any, replaced) + the section, at doc's indentation."""
    own = (doc or "").split(DOC_MARK)[0].rstrip()
    lines = own.splitlines()[1:]
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return (own + "\n\n" if own else "") + describe(spec, " " * indent)


def _document(spec: TaskSpec) -> None:
    """Append `describe(spec)` to the task class's docstring and to its module's, if the module
    declares this SPEC (a copied task file gets its own ids, never its original's)."""
    cls = spec.task_cls
    cls.__doc__ = _with_section(cls.__doc__, spec)
    module = sys.modules.get(cls.__module__)
    if module is not None and getattr(module, "SPEC", None) is spec:
        module.__doc__ = _with_section(module.__doc__, spec)


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
for _module in (
    roomba,
    cheese_maze,
    keys_chests,
    coin,
    lava,
    supervisor,
    storeroom,
    storeroom_heavy,
    which_object,
    which_object_noisy,
    signpost,
):
    register_module(_module)
