"""mesaworld environments: batched gridworlds with a train/deploy shift and proxy objectives.

Importing this package registers every task's Gymnasium ids (`mesaworld/Roomba-v0`, ...).

    import gymnasium as gym, envs
    env = gym.make("mesaworld/Roomba-v0", split="deploy", render_mode="ansi")
"""

from mesaworld.envs.engine import Engine
from mesaworld.envs.generators import SPLITS, Fixed, Generator, Mixture, Shift
from mesaworld.envs.level import Level, LevelError
from mesaworld.envs.registry import TASKS, env_id, env_ids, get_task, register_task
from mesaworld.envs.spec import Anchors, Preset, ProxyBehaviour, TaskSpec, TaskSpecError
from mesaworld.envs.task import ACTIONS, Task, parse_actions

__all__ = [
    "ACTIONS",
    "SPLITS",
    "TASKS",
    "Anchors",
    "Engine",
    "Fixed",
    "Generator",
    "Level",
    "LevelError",
    "Mixture",
    "Preset",
    "ProxyBehaviour",
    "Shift",
    "Task",
    "TaskSpec",
    "TaskSpecError",
    "env_id",
    "env_ids",
    "get_task",
    "parse_actions",
    "register_task",
]
