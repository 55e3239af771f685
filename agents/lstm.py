"""An LSTM actor-critic: the RL^2 agent ("learning to reinforcement learn", Wang et al. 2016;
Duan et al. 2016). A learned learning algorithm lives in its memory.

    observation (flattened) --dense ReLU--> x --LSTM cell--> h --> policy logits, value

The observation carries the previous step's reward and action where the task provides them
(`which-object` does), so the memory can accumulate what each choice paid. Same interface as
the ConvLSTM (`mesaworld.agents.recurrent`): `recurrent = True`, `initial_memory(B)` (float[B, 2, hidden],
h then c), `step(obs, memory, first)`, `unroll(obs[T, B], memory0, first[T, B])`; the memory is
zeroed at an episode's first observation and only there, so it persists across a task's trials.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mesaworld.agents.architecture import Architecture
from mesaworld.agents.recurrent import Recurrent


class LSTMAgent(Recurrent):
    """The recurrent actor-critic (module docstring)."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden: int = 128) -> None:
        super().__init__()
        size = math.prod(obs_shape)
        self.hidden = hidden
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(size, hidden), nn.ReLU())
        self.cell = nn.LSTMCell(hidden, hidden)
        self.actor = nn.Linear(hidden, n_actions)
        self.critic = nn.Linear(hidden, 1)
        for layer, gain in (
            (self.encoder[1], math.sqrt(2)),
            (self.actor, 0.01),
            (self.critic, 1.0),
        ):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)
        with torch.no_grad():  # forget-gate bias 1: remember by default
            self.cell.bias_ih.zero_()
            self.cell.bias_hh.zero_()
            self.cell.bias_ih[hidden : 2 * hidden] = 1.0

    def initial_memory(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, 2, self.hidden)

    def step(
        self, obs: torch.Tensor, memory: torch.Tensor, first: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One env step: (logits[B, A], value[B], new memory)."""
        memory = memory * (~first.bool()).float().view(-1, 1, 1)
        h, c = self.cell(self.encoder(obs.float()), (memory[:, 0], memory[:, 1]))
        return self.actor(h), self.critic(h).squeeze(-1), torch.stack([h, c], 1)


ARCHITECTURE = Architecture(
    name="lstm",
    build=LSTMAgent,
    doc="an LSTM over the flattened view: the RL^2 agent of in-context learning tasks",
    recurrent=True,
)
