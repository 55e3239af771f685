"""What a task declares about itself: `TaskSpec`, the one object a task file exports (`SPEC`).

A task is one file under `envs/tasks/` plus one row in `envs/registry.py`. The file's `SPEC`
declares everything the rest of mesaworld needs, so no generic module names a task:

    name, id_name      one name everywhere (`cheese-maze`: CLI, presets, run folders, `list`)
                       and the Gymnasium stem (`CheeseMaze`: mesaworld/CheeseMaze-v0)
    task_cls, shift    the rules (a `Task` subclass: objectives, which one is the reward) and the
                       train/deploy generators with their knob
    max_steps          the horizon
    examples           ASCII example levels per split (they must pass the task's `check`)
    baselines          task -> `Anchors`: the scripted planners by role, `aligned` (pursues the
                       base objective) and `proxy` (pursues the proxy; absent where none exists)
    behaviour          `ProxyBehaviour`: the per-episode measure of proxy pursuit
    presets            training presets (`Preset`: name, config fields, budget); the first is the
                       task's main preset, `demo` names the one `mesaworld demo <task>` trains
    train_agreement    proxy -> "per step" (equal on every step of every train episode) or
                       "optima" (the optimal returns agree on train levels); a test checks each

Every field is checked when the spec is made; a missing or malformed declaration is one line
naming the task and the field (`TaskSpecError`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from mesaworld.envs.generators import SPLITS, Shift
from mesaworld.envs.level import Level
from mesaworld.envs.task import Task

AGREEMENTS = ("per step", "optima")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_ID_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


class TaskSpecError(ValueError):
    """A task declaration that is missing or malformed (names the task and the field)."""


class Planner(Protocol):
    """A scripted policy on one full-view observation uint8[C, H, W]."""

    name: str

    def act(self, obs: np.ndarray) -> int: ...


@dataclass(frozen=True)
class Anchors:
    """A task's scripted baselines by role. `aligned` pursues the base objective; `proxy`
    pursues the proxy (the pseudo-aligned extreme), None where the task has no proxy."""

    aligned: Planner
    proxy: Planner | None = None

    def by_role(self) -> dict[str, Planner]:
        return {"aligned": self.aligned} | ({"proxy": self.proxy} if self.proxy else {})


@dataclass(frozen=True)
class ProxyBehaviour:
    """The task's proxy-specific behaviour per evaluation episode, from episodes.csv columns.

    `value(columns)` maps a column lookup (a DataFrame, or a dict of arrays) to one number per
    episode; `ratio` and `column` make the common shapes."""

    label: str
    value: Callable[[Mapping[str, Any]], Any]
    columns: tuple[str, ...]  # the episodes.csv columns `value` reads

    @classmethod
    def column(cls, label: str, name: str) -> ProxyBehaviour:
        return cls(label, lambda ep: ep[name] * 1.0, (name,))

    @classmethod
    def ratio(cls, label: str, name: str, per: str) -> ProxyBehaviour:
        """name / per, NaN where per is 0 (e.g. cans emptied per can on the level)."""

        def value(ep: Mapping[str, Any]) -> Any:
            den = np.asarray(ep[per], float)
            return np.asarray(ep[name], float) / np.where(den > 0, den, np.nan)

        return cls(label, value, (name, per))


@dataclass(frozen=True)
class Preset:
    """A named training config: TrainConfig fields to set (the budget is `total_steps`)."""

    name: str
    fields: Mapping[str, Any]
    doc: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))


@dataclass(frozen=True)
class TaskSpec:
    # Every field has a default so that a missing one is reported by `check_spec` (naming the
    # task and the field), not by Python as a missing positional argument.
    name: str = None  # type: ignore[assignment]
    id_name: str = None  # type: ignore[assignment]
    task_cls: type[Task] = None  # type: ignore[assignment]
    shift: Shift = None  # type: ignore[assignment]
    max_steps: int = None  # type: ignore[assignment]
    examples: Mapping[str, Level] = None  # type: ignore[assignment]
    baselines: Callable[[Task], Anchors] = None  # type: ignore[assignment]
    behaviour: ProxyBehaviour = None  # type: ignore[assignment]
    presets: tuple[Preset, ...] = None  # type: ignore[assignment]
    train_agreement: Mapping[str, str] = field(default_factory=dict)
    demo: str = ""  # preset trained by `mesaworld demo <task>` (default: the first preset)
    about: str = ""  # one paragraph for `mesaworld list` and the demo
    # The cells each objective rewards reaching, read from full observations uint8[n, C, H, W]
    # (channels as `task_cls.channels`): {objective: bool[n, H, W]}. What a planning agent's
    # learned reward map is read against (`mesaworld.experiments.instruments.readout`); None: no readout for this task.
    targets: Callable[[Any], Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        check_spec(self)

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.task_cls.objectives

    @property
    def proxies(self) -> tuple[str, ...]:
        return tuple(k for k in self.objectives if k != "base")

    @property
    def demo_preset(self) -> str:
        return self.demo or self.presets[0].name

    def rules(self, view: str = "full", **kwargs: Any) -> Task:
        """The task's rules at its own level shape and horizon."""
        return self.task_cls(self.shift.train.shape, max_steps=self.max_steps, view=view, **kwargs)

    def anchors(self) -> Anchors:
        return self.baselines(self.rules())


def _require(spec: TaskSpec, name: str, ok: bool, what: str) -> None:
    if not ok:
        label = spec.name if isinstance(spec.name, str) and spec.name else "<unnamed>"
        raise TaskSpecError(f"task {label!r}: {name}: {what}")


REQUIRED = ("name", "id_name", "task_cls", "shift", "max_steps", "examples", "baselines")
REQUIRED += ("behaviour", "presets")


def check_spec(spec: TaskSpec) -> None:
    """Every declaration present and well formed; raises TaskSpecError naming task and field."""
    r = _require
    for name in REQUIRED:
        r(spec, name, getattr(spec, name) is not None, "is missing (every TaskSpec declares it)")
    r(spec, "name", isinstance(spec.name, str) and bool(_NAME.match(spec.name)),
      f"must be lower-case words joined by '-', got {spec.name!r}")  # fmt: skip
    r(spec, "id_name", isinstance(spec.id_name, str) and bool(_ID_NAME.match(spec.id_name)),
      f"must be a CamelCase Gymnasium name, got {spec.id_name!r}")  # fmt: skip
    cls = spec.task_cls
    r(spec, "task_cls", isinstance(cls, type) and issubclass(cls, Task), "must be a Task subclass")
    r(
        spec,
        "task_cls.name",
        cls.name == spec.name,
        f"is {cls.name!r}, the spec's name is {spec.name!r}",
    )
    objectives = cls.objectives
    r(spec, "task_cls.objectives", bool(objectives) and objectives[0] == "base",
      f"must start with 'base', got {objectives!r}")  # fmt: skip
    r(spec, "task_cls.reward", cls.reward in objectives,
      f"{cls.reward!r} is not one of the objectives {objectives}")  # fmt: skip
    r(spec, "shift", isinstance(spec.shift, Shift), "must be a Shift")
    r(spec, "max_steps", isinstance(spec.max_steps, int) and spec.max_steps >= 1,
      f"must be a positive integer, got {spec.max_steps!r}")  # fmt: skip
    r(spec, "examples", isinstance(spec.examples, Mapping) and set(spec.examples) == set(SPLITS),
      f"must map each of {SPLITS} to a Level")  # fmt: skip
    rules = spec.rules()
    for split, level in spec.examples.items():
        r(spec, f"examples[{split!r}]", isinstance(level, Level), "must be a Level")
        try:
            rules.check(level)
        except ValueError as e:
            r(spec, f"examples[{split!r}]", False, f"fails the task's check ({e})")
    r(spec, "baselines", callable(spec.baselines), "must be a function task -> Anchors")
    anchors = spec.baselines(rules)
    r(spec, "baselines", isinstance(anchors, Anchors), "must return an Anchors(aligned, proxy)")
    for role, planner in anchors.by_role().items():
        r(spec, f"baselines.{role}", callable(getattr(planner, "act", None))
          and isinstance(getattr(planner, "name", None), str), "must have .act(obs) and .name")  # fmt: skip
    r(spec, "behaviour", isinstance(spec.behaviour, ProxyBehaviour), "must be a ProxyBehaviour")
    columns = {f"return/{k}" for k in objectives} | {f"measure/{m}" for m in cls.measures}
    columns |= {f"count/{name}" for name in cls.counted.values()}
    unknown = sorted(set(spec.behaviour.columns) - columns)
    r(spec, "behaviour", not unknown,
      f"reads {unknown}, not an episodes.csv column of this task ({', '.join(sorted(columns))})")  # fmt: skip
    _check_planners(spec, rules, anchors)
    r(spec, "presets", isinstance(spec.presets, tuple) and len(spec.presets) > 0
      and all(isinstance(p, Preset) for p in spec.presets), "must be a non-empty tuple of Preset")  # fmt: skip
    names = [p.name for p in spec.presets]
    r(spec, "presets", len(set(names)) == len(names), f"names repeat: {names}")
    r(spec, "demo", not spec.demo or spec.demo in names, f"{spec.demo!r} is not one of {names}")
    for proxy, kind in dict(spec.train_agreement).items():
        r(spec, "train_agreement", proxy in objectives[1:], f"{proxy!r} is not a proxy objective")
        r(spec, "train_agreement", kind in AGREEMENTS, f"{kind!r} is not one of {AGREEMENTS}")


def _check_planners(spec: TaskSpec, rules: Task, anchors: Anchors) -> None:
    """Each planner acts on the example levels (a wrong channel name fails here, not later)."""
    for split, level in spec.examples.items():
        codes = level.to_array()
        state = rules.alloc(1)
        rules.load(state, np.arange(1), codes[None])
        obs = rules.observation(state)[0]
        for role, planner in anchors.by_role().items():
            try:
                action = planner.act(obs)
            except Exception as e:  # a planner is user code: say which one, and where
                _require(spec, f"baselines.{role}", False,
                         f"fails on the {split} example ({type(e).__name__}: {e})")  # fmt: skip
            _require(spec, f"baselines.{role}", int(action) in range(5),
                     f"returned {action!r} on the {split} example, not an action 0-4")  # fmt: skip
