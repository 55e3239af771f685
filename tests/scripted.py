"""Scripted episodes for golden tests: a level, an action string, the episode's totals."""

import gymnasium as gym

import mesaworld.envs  # noqa: F401  (registers the ids)
from mesaworld.envs.task import parse_actions


def play_totals(env_id: str, level, actions: str, **kw) -> tuple[dict, int, bool]:
    """Play `actions` on `level` until the episode ends or the actions run out.

    Returns (total of every objective, steps taken, terminated). Checks on every step that the
    reward is the task's reward objective (the base objective on every task but the absent
    supervisor).
    """
    env = gym.make(env_id, levels=[level], **kw)
    env.reset(seed=0)
    totals = dict.fromkeys(env.unwrapped.objective_names, 0.0)
    steps = 0
    reward_name = env.unwrapped.engine.task.reward
    for a in parse_actions(actions):
        _, reward, term, trunc, info = env.step(a)
        steps += 1
        assert reward == info["objectives"][reward_name]
        for k, v in info["objectives"].items():
            totals[k] += v
        if term or trunc:
            return totals, steps, term
    return totals, steps, False
