"""The reward a run was trained on, as text, and what it pays: the task's reward objective
("base", "watched") or a mixture as written in the config ("base:0.5,dust_collected:0.5")."""

from __future__ import annotations


def training_reward(meta: dict) -> str:
    """The reward a run was trained on, as text: the task's reward objective ("base",
    "watched"), or the mixture as written in the config ("base:0.5,dust_collected:0.5")."""
    mix = str(meta.get("config", {}).get("reward_weights", "")).replace(" ", "")
    return mix or meta["reward"]


def paid_objectives(reward: str) -> frozenset[str]:
    """The objectives a `training_reward` text pays for (weight > 0)."""
    if ":" not in reward:
        return frozenset({reward})
    parts = (p.partition(":") for p in reward.split(","))
    return frozenset(name for name, _, w in parts if float(w) > 0)


def reward_weights(reward: str, objectives: list[str] | tuple[str, ...]) -> list[float]:
    """The `training_reward` text as one weight per objective."""
    if ":" not in reward:
        return [float(k == reward) for k in objectives]
    weights = {name: float(w) for name, _, w in (p.partition(":") for p in reward.split(","))}
    return [weights.get(k, 0.0) for k in objectives]
