"""PPO's update phase: minibatch passes over one rollout (`learn`), for feed-forward agents
(minibatches of transitions) and recurrent ones (minibatches of whole env sequences, unrolled
from the memory each env had at the rollout's start). Used by `mesaworld.experiments.training.trainer`."""

from __future__ import annotations

import torch
from mesaworld.agents.ppo import ppo_loss
from mesaworld.agents.sampling import act

LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")
_COLUMNS = ("actions", "logprobs", "advantages", "returns", "valid")


def learn(agent, optimizer, gen, cfg, b: dict, recurrent: bool, obs_shape) -> dict:
    """update_epochs passes of minibatch PPO over the rollout `b`; the loss statistics."""
    stats: dict[str, list[float]] = {k: [] for k in LOSS_KEYS}
    if recurrent:
        per = cfg.num_envs // cfg.num_minibatches
        for _ in range(cfg.update_epochs):
            order = torch.randperm(cfg.num_envs, generator=gen)
            for i in range(0, cfg.num_envs, per):
                e = order[i : i + per]
                logits, values = agent.unroll(b["obs"][:, e], b["memory0"][e], b["first"][:, e])
                sel = {k: b[k][:, e].reshape(-1) for k in _COLUMNS}
                _, logprob, entropy, value = act(
                    logits.reshape(-1, logits.shape[-1]), values.reshape(-1), sel["actions"], None
                )
                _step(agent, optimizer, cfg, logprob, entropy, value, sel, stats)
        return stats
    obs = b["obs"].reshape(cfg.batch_size, *obs_shape)
    flat = {k: b[k].reshape(-1) for k in _COLUMNS}
    mb = cfg.batch_size // cfg.num_minibatches
    for _ in range(cfg.update_epochs):
        order = torch.randperm(cfg.batch_size, generator=gen)
        for i in range(0, cfg.batch_size, mb):
            idx = order[i : i + mb]
            sel = {k: v[idx] for k, v in flat.items()}
            _, logprob, entropy, value = agent.get_action_and_value(obs[idx], sel["actions"])
            _step(agent, optimizer, cfg, logprob, entropy, value, sel, stats)
    return stats


def _step(agent, optimizer, cfg, logprob, entropy, value, sel: dict, stats: dict) -> None:
    """One clipped-PPO gradient step on a minibatch (`sel`: its rollout columns)."""
    loss, s = ppo_loss(
        logprob, sel["logprobs"], sel["advantages"], value, sel["returns"], entropy,
        sel["valid"], cfg.clip_coef, cfg.vf_coef, cfg.ent_coef,
    )  # fmt: skip
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
    optimizer.step()
    for k in LOSS_KEYS:
        stats[k].append(s[k])
