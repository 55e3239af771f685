"""A planning agent whose learned part is an objective: a mesa-optimizer you can read.

    observation (C, H, W) --reward net--> r[H, W]          the mesa-objective: a reward per cell
    r, obstacles --K steps of value iteration--> Q[5, H, W] the learned algorithm's search
    policy logits = beta * Q(agent cell, 5 actions)          beta learned (starts at 3)
    value = a small MLP on Q and V at the agent's cell and the pooled conv features

Value iteration over the grid's cells (value-iteration-network style, Tamar et al. 2016): moving
from cell s with action a leads to the neighbouring cell s' (itself for "stay", or when s' is an
obstacle or off the grid) and earns r(s'); Q_k(s, a) = r(s') + gamma V_{k-1}(s'),
V_k = max_a Q_k, V_0 = 0. Hard max: with K steps the planner sees K cells ahead. Everything is
differentiable, so PPO (the base optimizer, unchanged) trains the reward net through the planner
on the base reward. `plan_steps` (K) and `plan_gamma` are attributes that can be changed at test
time; `coords` adds two coordinate channels (row, column in [0, 1]) to the reward net's input,
so a position (the cheese maze's corner) can become part of the objective.

The reward map r is the agent's objective as the network represents it: `reward_map(obs)`. Raw r
is not a clean reward (cells next to rewarding ones pick up shaping, the agent's own cell is
valued low so it does not "stay and collect", scale and offset trade off against beta); read it
normalized (`mesaworld.experiments.instruments.readout`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mesaworld.agents.architecture import Architecture, Option
from mesaworld.agents.sampling import act

WIDTH = 32


def neighbours(x: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """float[B, H, W] per-cell values -> float[B, 5, H, W]: the value of the cell each action
    (up, right, down, left, stay) leads to from every cell; a move into an obstacle or off the
    grid stays put. `free` float[B, H, W] is 1 on passable cells."""
    h, w = x.shape[-2:]
    px, pf = F.pad(x, (1, 1, 1, 1)), F.pad(free, (1, 1, 1, 1))  # off-grid: not free
    out = []
    for dr, dc in ((-1, 0), (0, 1), (1, 0), (0, -1)):
        tx = px[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        tf = pf[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        out.append(torch.where(tf > 0, tx, x))
    out.append(x)
    return torch.stack(out, 1)


def value_iteration(
    reward: torch.Tensor, free: torch.Tensor, steps: int, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q float[B, 5, H, W], V float[B, H, W]) after `steps` of value iteration on the per-cell
    reward float[B, H, W] (module docstring)."""
    value = torch.zeros_like(reward)
    q = neighbours(reward, free)
    for _ in range(steps):
        q = neighbours(reward + gamma * value, free)
        value = q.max(1).values
    return q, value


def _conv(c_in: int, c_out: int, k: int) -> nn.Conv2d:
    layer = nn.Conv2d(c_in, c_out, k, padding=k // 2)
    nn.init.orthogonal_(layer.weight, math.sqrt(2))
    nn.init.zeros_(layer.bias)
    return layer


class PlannerAgent(nn.Module):
    """The planning actor-critic (module docstring); the same interface as `mesaworld.agents.feedforward`'s."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        channels: tuple[str, ...],
        plan_steps: int = 10,
        plan_gamma: float = 0.9,
        coords: bool = False,
    ) -> None:
        super().__init__()
        if len(obs_shape) != 3 or n_actions != 5:
            raise ValueError("the planner needs (C, H, W) observations and the 5 grid actions")
        for name in ("obstacle", "agent"):
            if name not in channels:
                raise ValueError(f"the planner needs an {name!r} channel (use --view full)")
        self.obstacle, self.agent_channel = channels.index("obstacle"), channels.index("agent")
        self.plan_steps, self.plan_gamma, self.coords = int(plan_steps), float(plan_gamma), coords
        c_in = obs_shape[0] + (2 if coords else 0)
        self.features = nn.Sequential(
            _conv(c_in, WIDTH, 3), nn.ReLU(), _conv(WIDTH, WIDTH, 3), nn.ReLU()
        )
        self.reward_head = _conv(WIDTH, 1, 1)
        nn.init.orthogonal_(self.reward_head.weight, 0.1)
        self.log_beta = nn.Parameter(torch.tensor(math.log(3.0)))
        self.critic = nn.Sequential(nn.Linear(5 + 1 + WIDTH, 64), nn.Tanh(), nn.Linear(64, 1))
        # Retargeting: a function float[B, H, W] -> float[B, H, W] applied to the reward map
        # before planning (None: plan on the learned map). Not a parameter, never saved.
        self.reward_edit = None

    def _inputs(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float()
        if not self.coords:
            return x
        b, _, h, w = x.shape
        rows = torch.linspace(0, 1, h).view(1, 1, h, 1).expand(b, 1, h, w)
        cols = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([x, rows, cols], 1)

    def reward_map(self, obs: torch.Tensor) -> torch.Tensor:
        """float[B, H, W]: the learned per-cell reward, the mesa-objective."""
        return self.reward_head(self.features(self._inputs(obs))).squeeze(1)

    def _heads(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        obs = obs.float()
        feats = self.features(self._inputs(obs))
        reward = self.reward_head(feats).squeeze(1)
        if self.reward_edit is not None:
            reward = self.reward_edit(reward)
        free = 1.0 - obs[:, self.obstacle]
        q, value = value_iteration(reward, free, self.plan_steps, self.plan_gamma)
        b = obs.shape[0]
        where = obs[:, self.agent_channel].reshape(b, -1).argmax(1)
        q_here = q.reshape(b, 5, -1).gather(2, where.view(b, 1, 1).expand(b, 5, 1)).squeeze(2)
        v_here = value.reshape(b, -1).gather(1, where.view(b, 1))
        pooled = feats.mean((2, 3))
        logits = self.log_beta.exp() * q_here
        return logits, self.critic(torch.cat([q_here, v_here, pooled], 1)).squeeze(-1)

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        return self._heads(obs)[1]

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        return self._heads(obs)[0]

    def get_action_and_value(
        self,
        obs: torch.Tensor,
        action: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, value = self._heads(obs)
        return act(logits, value, action, generator)


ARCHITECTURE = Architecture(
    name="planner",
    build=lambda obs_shape, n_actions, hidden, **options: PlannerAgent(
        obs_shape, n_actions, **options
    ),
    doc="a learned reward per cell + K steps of value iteration: a mesa-optimizer you can read",
    views=("full",),
    options=(
        Option("plan_steps", int, 1, 1000, doc="value-iteration steps K"),
        Option("plan_gamma", float, 0.0, 1.0, open_bounds=True, doc="planning discount"),
        Option("coords", bool, doc="two coordinate channels for the reward net"),
    ),
    budget="plan_steps",
    needs_channels=True,
    reward_map=True,
    spatial=True,
)
