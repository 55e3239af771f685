"""The one action-sampling step every actor-critic here shares."""

from __future__ import annotations

import torch
from torch.distributions import Categorical


def act(
    logits: torch.Tensor,
    value: torch.Tensor,
    action: torch.Tensor | None,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample (or score a given) action: returns action, log-prob, entropy, value (each [B])."""
    dist = Categorical(logits=logits)
    if action is None:
        # Sample with an explicit generator so one config seed decides every action.
        action = torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)
    return action, dist.log_prob(action), dist.entropy(), value
