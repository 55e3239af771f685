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
so a position (the cheese maze's corner) can become part of the objective. `reward_layers` is the
reward net's capacity: L 3x3 convolutions (default 2), so r at a cell is a function of the
(2L+1) x (2L+1) cells around it only (its receptive field); the mesa-objective cannot depend on
anything farther away (`signpost`, e09). `reward_width` is their channel count (default 32). The
3x3 convolution pair is most of the planner's cost on the Roomba (K = 10, 9x9; at K = 50 on the
cheese maze's 13x13 it is value iteration), and a 16-wide pair does 28% of its multiply-adds:
preset `roomba-planner-fast` trains ~1.5-1.7x faster, and is not the same learner (README, Speed).

The reward map r is the agent's objective as the network represents it: `reward_map(obs)`. Raw r
is not a clean reward (cells next to rewarding ones pick up shaping, the agent's own cell is
valued low so it does not "stay and collect", scale and offset trade off against beta); read it
normalized (`mesaworld.experiments.instruments.readout`).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from mesaworld.agents.architecture import Architecture, Option
from mesaworld.agents.sampling import act

WIDTH = 32
# Run the reward net's convolutions channels-last: faster in oneDNN on these small grids, the
# same function up to float rounding (~1e-6 on the logits). False: NCHW, whose forward pass is
# bit-identical to the plain NCHW computation (the planner's before the speedups).
CHANNELS_LAST = True
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left; the 5th action stays


def neighbours(x: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """float[B, H, W] per-cell values -> float[B, 5, H, W]: the value of the cell each action
    (up, right, down, left, stay) leads to from every cell; a move into an obstacle or off the
    grid stays put. `free` float[B, H, W] is 1 on passable cells."""
    b, h, w = x.shape
    return x.reshape(b, h * w).gather(1, sources(free)).view(b, 5, h, w)


@functools.cache
def _moves(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(target long[4, h*w], inside bool[4, h*w], here long[h*w]) on an h x w grid: the flat
    cell each move reaches from every cell, whether that is on the grid, and the cell itself."""
    here = torch.arange(h * w)
    row, col = here // w, here % w
    target, inside = [], []
    for dr, dc in MOVES:
        r, c = row + dr, col + dc
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        target.append(torch.where(ok, r * w + c, here))
        inside.append(ok)
    return torch.stack(target), torch.stack(inside), here


def sources(free: torch.Tensor) -> torch.Tensor:
    """long[B, 5 * H * W]: at a * H * W + s, the flat cell that action a (up, right, down, left,
    stay) leads to from cell s (s itself for a move into an obstacle or off the grid). Computed
    once per forward pass; every step of value iteration is then one gather and one max."""
    b, h, w = free.shape
    target, inside, here = _moves(h, w)
    passable = free.reshape(b, h * w) > 0
    idx = torch.where(passable[:, target] & inside, target, here)  # [B, 4, H*W]
    return torch.cat([idx, here.expand(b, 1, h * w)], 1).view(b, 5 * h * w)


def _best(u: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """One step's V(s) = max_a u(src[a, s]) for u float[B, n], src long[B, 5n] (`sources`).
    With gradients, max(dim): all of the gradient goes to the first maximal action's cell.
    Without, a chain of maximum (the same numbers, ~4x faster than max(dim)'s CPU kernel).
    (Tried and dropped, issue 23: a custom autograd Function with a chain of maximum forward and
    the same gradient to the bit; ~10% faster per step in isolation, no faster in training.)"""
    b, n = u.shape
    cand = u.gather(1, src).view(b, 5, n)
    if torch.is_grad_enabled() and u.requires_grad:
        return cand.max(1).values
    best = cand[:, 0]
    for a in range(1, 5):
        best = torch.maximum(best, cand[:, a])
    return best


def value_iteration(
    reward: torch.Tensor, free: torch.Tensor, steps: int, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q float[B, 5, H, W], V float[B, H, W]) after `steps` of value iteration on the per-cell
    reward float[B, H, W] (module docstring)."""
    b, h, w = reward.shape
    src, flat = sources(free), reward.reshape(b, h * w)
    value = torch.zeros_like(flat)
    for _ in range(steps - 1):
        value = _best(flat + gamma * value, src)
    q = (flat + gamma * value if steps > 0 else flat).gather(1, src).view(b, 5, h, w)
    return q, (q.max(1).values if steps > 0 else value.view(b, h, w))


def plan_at(
    reward: torch.Tensor, free: torch.Tensor, where: torch.Tensor, steps: int, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """`value_iteration` read at one cell per row, `where` long[B] (flat): (Q float[B, 5],
    V float[B, 1]) there, the same numbers. The last step is computed at that cell only."""
    b, h, w = reward.shape
    src, flat = sources(free), reward.reshape(b, h * w)
    cells = src.view(b, 5, h * w).gather(2, where.view(b, 1, 1).expand(b, 5, 1)).view(b, 5)
    if steps < 1:
        return flat.gather(1, cells), torch.zeros_like(flat[:, :1])
    value = torch.zeros_like(flat)
    for _ in range(steps - 1):
        value = _best(flat + gamma * value, src)
    q = (flat + gamma * value).gather(1, cells)
    return q, q.max(1, keepdim=True).values


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
        reward_layers: int = 2,
        reward_width: int = WIDTH,
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
        self.reward_layers, self.reward_width = int(reward_layers), int(reward_width)
        width = self.reward_width
        layers: list[nn.Module] = []
        for i in range(self.reward_layers):  # default 2: the same modules, init order and keys
            layers += [_conv(c_in if i == 0 else width, width, 3), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.reward_head = _conv(width, 1, 1)
        nn.init.orthogonal_(self.reward_head.weight, 0.1)
        self.log_beta = nn.Parameter(torch.tensor(math.log(3.0)))
        self.critic = nn.Sequential(nn.Linear(5 + 1 + width, 64), nn.Tanh(), nn.Linear(64, 1))
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

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        x = self._inputs(obs)
        return self.features(
            x.contiguous(memory_format=torch.channels_last) if CHANNELS_LAST else x
        )

    def reward_map(self, obs: torch.Tensor) -> torch.Tensor:
        """float[B, H, W]: the learned per-cell reward, the mesa-objective."""
        return self.reward_head(self._features(obs)).squeeze(1)

    def _heads(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        obs = obs.float()
        feats = self._features(obs)
        # The mean as CPU mean computes it (sum, then divide) so that its gradient is a
        # broadcast, not a full NCHW tensor; and before the reward head, so that autograd meets
        # the head's channels-last gradient first and adds this one to it (the other order
        # makes the sum NCHW and the ReLU backward ~20x slower).
        pooled = feats.sum((2, 3)) / (feats.shape[2] * feats.shape[3])
        reward = self.reward_head(feats).squeeze(1)
        if self.reward_edit is not None:
            reward = self.reward_edit(reward)
        b = obs.shape[0]
        where = obs[:, self.agent_channel].reshape(b, -1).argmax(1)
        q_here, v_here = plan_at(
            reward, 1.0 - obs[:, self.obstacle], where, self.plan_steps, self.plan_gamma
        )
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
        Option("reward_layers", int, 1, 8, doc="3x3 conv layers of the reward net (field 2L+1)"),
        Option("reward_width", int, 1, 256, doc="channels of the reward net's convolutions"),
    ),
    budget="plan_steps",
    needs_channels=True,
    reward_map=True,
    spatial=True,
)
