"""mesaworld environments: batched gridworlds with a train/deploy shift and proxy objectives.

Importing this package registers every task's Gymnasium ids (`mesaworld/Roomba-v0`, ...).

    import gymnasium as gym, envs
    env = gym.make("mesaworld/Roomba-v0", split="deploy", render_mode="ansi")
"""

from envs.engine import Engine
from envs.generators import SPLITS, Fixed, Generator, Mixture, Shift
from envs.level import Level, LevelError
from envs.registry import TASKS, env_id, env_ids, get_task, register_task
from envs.spec import Anchors, Preset, ProxyBehaviour, TaskSpec, TaskSpecError
from envs.task import ACTIONS, Task, parse_actions

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
