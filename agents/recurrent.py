"""A recurrent planner: a small convolutional LSTM agent (the Deep-Repeated-ConvLSTM shape of
the Sokoban planning work, Guez et al. 2019, scaled down to fit 2 CPU cores).

    observation (C, H, W) --conv3x3--> x (the encoding, fed to every layer at every tick)
    memory: LAYERS ConvLSTM layers, each (h, c) float[CHANNELS, H, W]
    per env step, `ticks` internal ticks:  for each layer l
        h_l, c_l = ConvLSTM_l([x, h_{l-1} (this tick; for l = 0 the last layer's h from the
                               previous tick), pool-and-inject(h_l)], (h_l, c_l))
    head: [h_last and x at the agent's cell and its 4 neighbours, max and mean of h_last]
          --> dense `hidden` ReLU --> policy logits, value

No planner is built in: whatever search it does, PPO has to grow in the LSTM. The one prior is
where the head reads: at the agent's cell and the 4 cells its moves lead to (as the planner
reads its action values there), so the convolutions must carry "which way to go" to those
cells, across ticks and across steps. (A head
over the flattened grid, as in the Sokoban DRC, did not learn the Roomba at 0.5M steps here:
return 2.2 of ~6, entropy 1.42 of 1.61 at the end.) More ticks per step
is "thinking time": `ticks` is an attribute, so a probe can change it at test time.

The memory is one tensor float[B, LAYERS, 2, CHANNELS, H, W] (h then c), zero at an episode's
first observation. The interface the trainer and the evaluators use:

    initial_memory(B)                            zeros
    step(obs[B], memory, first[B])               -> logits[B, A], value[B], memory
    unroll(obs[T, B], memory0, first[T, B])      -> logits[T, B, A], values[T, B]  (for PPO)

`first[t]` marks the first observation of an episode: the memory is zeroed before it is read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mesaworld.agents.architecture import Architecture, Option

CHANNELS = 8
LAYERS = 2


def _conv(c_in: int, c_out: int, k: int = 3) -> nn.Conv2d:
    layer = nn.Conv2d(c_in, c_out, k, padding=k // 2)
    nn.init.orthogonal_(layer.weight, math.sqrt(2) if c_out != 4 * CHANNELS else 1.0)
    nn.init.zeros_(layer.bias)
    return layer


class Recurrent(nn.Module):
    """What every recurrent agent shares: `recurrent = True` and `unroll` over `step`."""

    recurrent = True

    def step(self, obs: torch.Tensor, memory: torch.Tensor, first: torch.Tensor):
        raise NotImplementedError

    def unroll(
        self, obs: torch.Tensor, memory: torch.Tensor, first: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """T steps from `memory`: (logits[T, B, A], values[T, B])."""
        logits, values = [], []
        for t in range(obs.shape[0]):
            lg, v, memory = self.step(obs[t], memory, first[t])
            logits.append(lg)
            values.append(v)
        return torch.stack(logits), torch.stack(values)


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer: gates from a 3x3 convolution over [input, h, pooled h]."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.gates = _conv(c_in + 2 * CHANNELS, 4 * CHANNELS)
        self.pool = nn.Linear(2 * CHANNELS, CHANNELS)  # pool-and-inject: max and mean of h

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(torch.cat([h.amax((2, 3)), h.mean((2, 3))], 1))
        pooled = pooled[:, :, None, None].expand_as(h)
        i, f, o, g = self.gates(torch.cat([x, h, pooled], 1)).chunk(4, 1)
        c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ConvLSTMAgent(Recurrent):
    """The recurrent actor-critic (module docstring)."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        hidden: int = 128,
        channels: tuple[str, ...] = (),
        ticks: int = 2,
    ) -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"the recurrent network needs (C, H, W) observations, got {obs_shape}")
        if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 1:
            raise ValueError(f"ticks must be a positive integer, got {ticks!r}")
        if "agent" not in channels:
            raise ValueError("the recurrent network needs an 'agent' channel (use --view full)")
        c, h, w = obs_shape
        self.shape, self.ticks, self.agent_channel = (h, w), ticks, channels.index("agent")
        self.encoder = _conv(c, CHANNELS)
        # Layer l reads the encoding and the h of the layer below (layer 0: the top layer's).
        self.cells = nn.ModuleList(ConvLSTMCell(2 * CHANNELS) for _ in range(LAYERS))
        self.head = nn.Sequential(nn.Linear(12 * CHANNELS, hidden), nn.ReLU())
        # The cells the 5 actions lead to (up, right, down, left, stay), as flat offsets.
        self.register_buffer("offsets", torch.tensor([-w, 1, w, -1, 0]), persistent=False)
        self.actor = nn.Linear(hidden, n_actions)
        self.critic = nn.Linear(hidden, 1)
        for layer, gain in ((self.head[0], math.sqrt(2)), (self.actor, 0.01), (self.critic, 1.0)):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)

    def initial_memory(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, LAYERS, 2, CHANNELS, *self.shape)

    def step(
        self, obs: torch.Tensor, memory: torch.Tensor, first: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One env step: (logits[B, A], value[B], new memory)."""
        keep = (~first.bool()).float().view(-1, 1, 1, 1, 1, 1)
        memory = memory * keep
        x = F.relu(self.encoder(obs.float()))
        hs = [memory[:, k, 0] for k in range(LAYERS)]
        cs = [memory[:, k, 1] for k in range(LAYERS)]
        for _ in range(self.ticks):
            below = hs[-1]
            for k, cell in enumerate(self.cells):
                hs[k], cs[k] = cell(torch.cat([x, below], 1), hs[k], cs[k])
                below = hs[k]
        b = obs.shape[0]
        where = obs[:, self.agent_channel].reshape(b, -1).argmax(1)
        cells = (where.view(b, 1) + self.offsets.view(1, 5)).clamp(0, x[0, 0].numel() - 1)
        maps = torch.cat([hs[-1], x], 1).reshape(b, 2 * CHANNELS, -1)
        near = maps.gather(2, cells.view(b, 1, 5).expand(b, 2 * CHANNELS, 5)).reshape(b, -1)
        pooled = torch.cat([hs[-1].amax((2, 3)), hs[-1].mean((2, 3))], 1)
        features = self.head(torch.cat([near, pooled], 1))
        memory = torch.stack([torch.stack([h, c], 1) for h, c in zip(hs, cs)], 1)
        return self.actor(features), self.critic(features).squeeze(-1), memory


ARCHITECTURE = Architecture(
    name="recurrent",
    build=ConvLSTMAgent,
    doc="a convolutional LSTM with `ticks` internal steps per env step (no built-in search)",
    views=("full",),
    options=(Option("ticks", int, 1, 100, doc="ConvLSTM ticks per env step"),),
    budget="ticks",
    recurrent=True,
    needs_channels=True,
    spatial=True,
)
