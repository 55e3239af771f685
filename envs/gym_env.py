"""Gymnasium views of the engine: `GridEnv` (gymnasium.Env, B=1) and `GridVectorEnv` (native
gymnasium.vector.VectorEnv, B=num_envs). Both build an `Engine` with `make_engine`, so they are
the same code; a test checks they agree step for step across autoresets.

Keyword arguments (through `gym.make` / `gym.make_vec`):
    split       "train" | "deploy": which level distribution of the task's shift
    knob        float: the shift's knob for the train split (default: the shift's own)
    levels      Level | ASCII text | file path | list of them: play these levels instead
    generator   any Generator: draw levels from it instead (excludes split/knob/levels)
    max_steps   horizon (truncation) in steps
    view        "full" (C, H, W) | "egocentric" (agent-centred)
    reward_weights  {objective: weight}: reward a mixture of the task's objectives instead of its
                own reward objective (e.g. {"base": 0.75, "dust_collected": 0.25})
    render_mode "rgb_array" | "ansi" | None
    ...         task parameters (e.g. Roomba's can_dust, bin_slack)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from mesaworld.envs.engine import Engine
from mesaworld.envs.generators import Generator, as_generator
from mesaworld.envs.level import Level
from mesaworld.envs.registry import get_task
from mesaworld.envs.render import rgb_from_codes, sprite_sheet
from mesaworld.envs.task import ACTIONS

RENDER_MODES = ["rgb_array", "ansi"]
RENDER_FPS = 8


def make_engine(
    task: str,
    num_envs: int,
    autoreset: bool,
    split: str = "train",
    knob: float | None = None,
    levels: Any = None,
    generator: Generator | None = None,
    max_steps: int | None = None,
    view: str = "full",
    reward_weights: dict[str, float] | None = None,
    **task_kwargs: Any,
) -> Engine:
    """Resolve the keyword arguments of a registered task into an `Engine`."""
    spec = get_task(task)
    if generator is not None and (levels is not None or knob is not None):
        raise ValueError("pass either generator= or levels=/knob=, not both")
    if levels is not None and knob is not None:
        raise ValueError("knob= sets the train distribution; it has no meaning with levels=")
    if split == "deploy" and knob is not None:
        raise ValueError(
            "knob= sets the train distribution; it has no meaning with split='deploy' "
            "(a -Deploy-v0 id)"
        )
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"generator must be an envs Generator, got {type(generator).__name__}")
    if levels is not None:
        generator = as_generator(levels)
    elif generator is None:
        generator = spec.shift.generator(split, knob)
    steps = spec.max_steps if max_steps is None else max_steps
    t = spec.task_cls(generator.shape, max_steps=steps, view=view, **task_kwargs)
    if levels is not None:
        for lv in generator.levels:  # type: ignore[attr-defined]
            t.check(lv)
    return Engine(t, generator, num_envs, autoreset=autoreset, reward_weights=reward_weights)


def _spaces(engine: Engine) -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    obs = gym.spaces.Box(0, 255, engine.task.obs_shape, np.uint8)
    return obs, gym.spaces.Discrete(len(ACTIONS))


def _check_render_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {RENDER_MODES} or None, got {mode!r}")
    return mode


class _Rendering:
    """rgb_array and ansi rendering of engine env i (shared by both views)."""

    engine: Engine
    _sheet: tuple[np.ndarray, np.ndarray] | None = None

    def render_env(self, i: int, mode: str) -> np.ndarray | str:
        task, s = self.engine.task, self.engine.state
        codes = task.to_codes(s, i)
        if mode == "ansi":
            text = Level.from_array(codes).to_str()
            status = task.status(s, i)
            return f"{text}\n{status}\n" if status else text + "\n"
        if self._sheet is None:
            self._sheet = sprite_sheet(task.palette)
        return rgb_from_codes(codes, self._sheet)

    def current_level(self, i: int = 0) -> Level:
        """Env i's state as a Level (e.g. to save a situation and replay it with levels=)."""
        return Level.from_array(self.engine.task.to_codes(self.engine.state, i))


class GridEnv(_Rendering, gym.Env):
    """One environment of a registered task (see the task class docstring for its rules)."""

    metadata = {"render_modes": RENDER_MODES, "render_fps": RENDER_FPS}

    def __init__(self, task: str, render_mode: str | None = None, **kwargs: Any) -> None:
        self.engine = make_engine(task, 1, autoreset=False, **kwargs)
        self.render_mode = _check_render_mode(render_mode)
        self.observation_space, self.action_space = _spaces(self.engine)
        self.objective_names = self.engine.task.objectives

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # The engine draws this env's levels from Gymnasium's own np_random stream.
        self.engine.rngs[0] = self.np_random
        level = (options or {}).get("level")
        if level is not None:
            self.engine.load_levels([level if isinstance(level, Level) else Level.from_str(level)])
        else:
            self.engine.reset()
        return self.engine.task.observation(self.engine.state)[0], {}

    def step(self, action):
        if isinstance(action, np.ndarray) and action.ndim == 0:  # Discrete.contains accepts it
            action = action[()]
        if not (isinstance(action, int | np.integer) and 0 <= action < len(ACTIONS)):
            raise ValueError(
                f"action must be an integer in [0, {len(ACTIONS) - 1}], got {action!r}"
            )
        out = self.engine.step(np.array([action], np.int64))
        task = self.engine.task
        info: dict[str, Any] = {
            "objectives": dict(zip(task.objectives, out["objectives"][:, 0].tolist())),
            "measures": dict(zip(task.measures, out["measures"][:, 0].tolist())),
        }
        done = bool(out["done"][0])
        if done:
            info["episode_objectives"] = dict(
                zip(task.objectives, out["episode_returns"][:, 0].tolist())
            )
            info["episode_measures"] = dict(
                zip(task.measures, out["episode_measures"][:, 0].tolist())
            )
            info["episode_length"] = int(out["episode_length"][0])
        obs = task.observation(self.engine.state)[0]
        reward = float(out["reward"][0])
        return obs, reward, bool(out["terminated"][0]), bool(out["truncated"][0]), info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode to gym.make")
            return None
        return self.render_env(0, self.render_mode)


class GridVectorEnv(_Rendering, VectorEnv):
    """num_envs environments of a registered task stepped as one numpy batch.

    Autoreset follows Gymnasium's NEXT_STEP mode. `info` carries per-step arrays
    `objectives[name]`, `measures[name]`, and, where `_episode_objectives` is True, the finished
    episode's totals `episode_objectives[name]`, `episode_measures[name]`, `episode_length`.
    Env i reset with `seed=s` behaves exactly as `GridEnv` reset with seed s + i.
    """

    metadata = {
        "render_modes": RENDER_MODES,
        "render_fps": RENDER_FPS,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self, num_envs: int = 1, *, task: str, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        self.engine = make_engine(task, num_envs, autoreset=True, **kwargs)
        self.num_envs = self.engine.num_envs
        self.render_mode = _check_render_mode(render_mode)
        self.single_observation_space, self.single_action_space = _spaces(self.engine)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.objective_names = self.engine.task.objectives

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        if seed is not None:
            seeds = (
                [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else list(seed)
            )
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
            self.engine.seed(seeds)
            self._np_random, self._np_random_seed = self.engine.rngs[0], seeds[0]
        self.engine.reset()
        return self.engine.task.observation(self.engine.state), {}

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions must be integers of shape ({self.num_envs},), "
                f"got {actions.dtype} {actions.shape}"
            )
        if ((actions < 0) | (actions >= len(ACTIONS))).any():
            raise ValueError(f"actions must be in [0, {len(ACTIONS) - 1}]")
        out = self.engine.step(actions.astype(np.int64, copy=False))
        task = self.engine.task
        info: dict[str, Any] = {
            "objectives": {k: out["objectives"][j] for j, k in enumerate(task.objectives)},
            "measures": {k: out["measures"][j] for j, k in enumerate(task.measures)},
        }
        done = out["done"]
        if done.any():
            info["episode_objectives"] = {
                k: np.where(done, out["episode_returns"][j], 0.0)
                for j, k in enumerate(task.objectives)
            }
            info["episode_measures"] = {
                k: np.where(done, out["episode_measures"][j], 0.0)
                for j, k in enumerate(task.measures)
            }
            info["episode_length"] = np.where(done, out["episode_length"], 0)
            info["_episode_objectives"] = done.copy()
        obs = task.observation(self.engine.state)
        return obs, out["reward"], out["terminated"], out["truncated"], info

    def state_dict(self) -> dict:
        """The exact state of every env (arrays, episode totals, random streams): a training
        checkpoint holds it, and `load_state_dict` resumes to the very same steps."""
        return self.engine.state_dict()

    def load_state_dict(self, data: dict) -> None:
        self.engine.load_state_dict(data)

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode to make_vec")
            return None
        return tuple(self.render_env(i, self.render_mode) for i in range(self.num_envs))
