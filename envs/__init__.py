"""mesaworld environments: batched gridworlds with a train/deploy shift and proxy objectives.

Importing this package registers every task's Gymnasium ids (`mesaworld/Roomba-v0`, ...).

    import gymnasium as gym, envs
    env = gym.make("mesaworld/Roomba-v0", split="deploy", render_mode="ansi")
"""

from envs.engine import ACTIONS, Engine, Task, parse_actions
from envs.generators import SPLITS, Fixed, Generator, Mixture, Shift
from envs.level import Level, LevelError
from envs.registry import TASKS, env_ids, register_all

register_all()

__all__ = [
    "ACTIONS",
    "SPLITS",
    "TASKS",
    "Engine",
    "Fixed",
    "Generator",
    "Level",
    "LevelError",
    "Mixture",
    "Shift",
    "Task",
    "env_ids",
    "parse_actions",
    "register_all",
]
