"""Feed-forward actor-critics: an MLP on the flattened view and a small CNN on the grid.

Both are CleanRL-shaped `nn.Module`s (`get_value`, `get_action_and_value`) with a shared trunk,
a policy head and a value head. Neither has a thinking budget: what it computes per step is
fixed by its weights. Rows of the architecture table: `MLP`, `CNN`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from mesaworld.agents.architecture import Architecture
from mesaworld.agents.sampling import act


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


def _cnn(obs_shape: tuple[int, ...], n_actions: int, hidden: int) -> CNNAgent:
    if len(obs_shape) != 3:
        raise ValueError(f"the cnn network needs (C, H, W) observations, got {obs_shape}")
    return CNNAgent(obs_shape, n_actions, hidden)


MLP = Architecture(
    name="mlp",
    build=MLPAgent,
    doc="flattened view, two tanh layers of `hidden` (CPU-fast on the egocentric view)",
)
CNN = Architecture(
    name="cnn",
    build=_cnn,
    doc="two 3x3 convolutions over the grid, then a dense layer of `hidden`",
    spatial=True,
)
