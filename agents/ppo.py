"""PPO: the networks, generalized advantage estimation and the clipped loss.

Parts:
    `MLPAgent`, `CNNAgent`   actor-critic networks (nn.Module only: CleanRL's `get_value` and
                             `get_action_and_value`), built by `make_agent(kind, obs_shape, ...)`
    `gae`                    advantages for NEXT_STEP-autoreset rollouts (module-level, testable)
    `ppo_loss`               the clipped surrogate + value + entropy loss over valid transitions

The training loop that uses them is `mesaworld.experiments.training.trainer.train`; checkpoints are written and read
by `mesaworld.experiments.runio.save_agent` / `load_agent`.

Rollout convention (Gymnasium's NEXT_STEP autoreset, as our vector env uses): when an episode
ends at step t, the observation returned is the episode's *final* observation, and the next step
ignores its action and returns the reset observation with zero reward. That next transition is
not experience; `valid[t] = False` masks it out of the loss, and `gae` cuts the return chain at
every episode end. A truncated step bootstraps from the value of the final observation, which
NEXT_STEP hands us for free as `values[t + 1]`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from mesaworld.agents.lstm import LSTMAgent
from mesaworld.agents.planner import PlannerAgent
from mesaworld.agents.recurrent import ConvLSTMAgent
from mesaworld.agents.sampling import act
from torch import nn

NETWORKS = ("mlp", "cnn", "planner", "recurrent", "lstm")
RECURRENT = ("recurrent", "lstm")  # networks with a memory (trained on whole sequences)


def _layer(layer: nn.Module, gain: float = math.sqrt(2)) -> nn.Module:
    # Orthogonal init with per-layer gains: the standard PPO recipe (small policy-head gain makes
    # the initial policy near uniform).
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class _ActorCritic(nn.Module):
    """A shared trunk (subclass) with a policy head and a value head."""

    def __init__(self, trunk: nn.Module, features: int, n_actions: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.actor = _layer(nn.Linear(features, n_actions), gain=0.01)
        self.critic = _layer(nn.Linear(features, 1), gain=1.0)

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """obs uint8/float[B, C, H, W] -> value float[B]."""
        return self.critic(self.trunk(obs.float())).squeeze(-1)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.trunk(obs.float()))

    def get_action_and_value(
        self,
        obs: torch.Tensor,
        action: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or score a given) action: returns action, log-prob, entropy, value (each [B])."""
        hidden = self.trunk(obs.float())
        return act(self.actor(hidden), self.critic(hidden).squeeze(-1), action, generator)


class MLPAgent(_ActorCritic):
    """Flatten the observation, then `hidden` tanh layers (CPU-fast on the egocentric view)."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden: int = 256) -> None:
        n_in = int(np.prod(obs_shape))
        trunk = nn.Sequential(
            nn.Flatten(),
            _layer(nn.Linear(n_in, hidden)),
            nn.Tanh(),
            _layer(nn.Linear(hidden, hidden)),
            nn.Tanh(),
        )
        super().__init__(trunk, hidden, n_actions)


class CNNAgent(_ActorCritic):
    """Two 3x3 convolutions over the full (C, H, W) grid, then one dense layer of `hidden`."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden: int = 256) -> None:
        c, h, w = obs_shape
        trunk = nn.Sequential(
            _layer(nn.Conv2d(c, 32, 3, padding=1)),
            nn.ReLU(),
            _layer(nn.Conv2d(32, 32, 3, padding=1)),
            nn.ReLU(),
            nn.Flatten(),
            _layer(nn.Linear(32 * h * w, hidden)),
            nn.ReLU(),
        )
        super().__init__(trunk, hidden, n_actions)


def make_agent(
    network: str, obs_shape: tuple[int, ...], n_actions: int, hidden: int, **options: object
) -> nn.Module:
    """The actor-critic for `network` ("mlp" | "cnn" | "planner" | "recurrent" | "lstm"). The planner's
    options (channels, plan_steps, plan_gamma, coords: `mesaworld.agents.planner`) and the recurrent
    agent's (ticks: `mesaworld.agents.recurrent`) are keyword arguments."""
    if network == "planner":
        return PlannerAgent(obs_shape, n_actions, **options)
    if network == "recurrent":
        return ConvLSTMAgent(obs_shape, n_actions, hidden, **options)
    if network == "lstm":
        return LSTMAgent(obs_shape, n_actions, hidden)
    if network == "mlp":
        return MLPAgent(obs_shape, n_actions, hidden)
    if network == "cnn":
        if len(obs_shape) != 3:
            raise ValueError(f"the cnn network needs (C, H, W) observations, got {obs_shape}")
        return CNNAgent(obs_shape, n_actions, hidden)
    raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalized advantage estimates for a rollout of T steps of B envs.

    rewards, terminated, truncated: [T, B] (flags as float or bool) for the step *from* obs t;
    values: [T + 1, B], values[t] = V(obs t) and values[T] = V(obs after the last step).
    Terminated steps do not bootstrap; truncated steps bootstrap from V(final obs) = values[t+1];
    both cut the lambda-chain (the following NEXT_STEP transition belongs to no episode).
    Returns advantages [T, B]; the value targets are advantages + values[:-1].
    """
    term = terminated.to(rewards.dtype)
    ended = torch.maximum(term, truncated.to(rewards.dtype))
    deltas = rewards + gamma * (1.0 - term) * values[1:] - values[:-1]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * (1.0 - ended[t]) * running
        advantages[t] = running
    return advantages


def ppo_loss(
    new_logprob: torch.Tensor,
    old_logprob: torch.Tensor,
    advantages: torch.Tensor,
    new_value: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    valid: torch.Tensor,
    clip_coef: float,
    vf_coef: float,
    ent_coef: float,
    norm_adv: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped objective averaged over valid transitions (all inputs [N]).

    Returns the scalar loss and floats for the log: policy_loss, value_loss, entropy,
    approx_kl, clipfrac.
    """
    w = valid.float()
    n = w.sum().clamp_min(1.0)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return (x * w).sum() / n

    if norm_adv:
        mu = mean(advantages)
        std = torch.sqrt(mean((advantages - mu) ** 2)) + 1e-8
        advantages = (advantages - mu) / std
    log_ratio = new_logprob - old_logprob
    ratio = log_ratio.exp()
    pg = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef))
    policy_loss = mean(pg)
    value_loss = 0.5 * mean((new_value - returns) ** 2)
    ent = mean(entropy)
    loss = policy_loss + vf_coef * value_loss - ent_coef * ent
    with torch.no_grad():
        stats = {
            "policy_loss": float(policy_loss),
            "value_loss": float(value_loss),
            "entropy": float(ent),
            "approx_kl": float(mean((ratio - 1) - log_ratio)),
            "clipfrac": float(mean(((ratio - 1).abs() > clip_coef).float())),
        }
    return loss, stats
