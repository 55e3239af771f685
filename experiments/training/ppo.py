"""PPO, the base optimizer, top to bottom in one file.

Reading order:
    gae          advantages for a rollout with NEXT_STEP autoreset (module-level, testable)
    ppo_loss     the clipped surrogate + value + entropy loss over valid transitions
    PPO          the algorithm's state (agent, optimizer, sampling generator, env, and what a
                 rollout carries over to the next: observation, episode ends, memory)
      .iterate()   one update: anneal the learning rate, `rollout`, `learn`
      .rollout()   num_steps of every env -> the batch, with advantages and returns
      .learn()     update_epochs passes of minibatch PPO over the batch (feed-forward agents:
                   minibatches of transitions; recurrent ones: minibatches of whole env
                   sequences, unrolled from the memory each env had at the rollout's start)
      .state_dict() / .load_state_dict()   everything a resumed run needs, as tensors

It knows nothing of run folders, checkpoints on disk, logs or evaluation: `trainer.py` wires it
to a run folder. Everything random comes from the generator it is given (one config seed).

Rollout convention (Gymnasium's NEXT_STEP autoreset, as our vector env uses): when an episode
ends at step t, the observation returned is the episode's *final* observation, and the next step
ignores its action and returns the reset observation with zero reward. That next transition is
not experience; `valid[t] = False` masks it out of the loss, and `gae` cuts the return chain at
every episode end. A truncated step bootstraps from the value of the final observation, which
NEXT_STEP hands us for free as `values[t + 1]`.
"""

from __future__ import annotations

import numpy as np
import torch

from mesaworld.agents.sampling import act

LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")
_COLUMNS = ("actions", "logprobs", "advantages", "returns", "valid")


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


class PPO:
    """PPO on a vector env (module docstring). `cfg` is a `TrainConfig` (its PPO fields);
    `obs` is the env's first observation after `reset`."""

    def __init__(self, agent, env, optimizer, gen: torch.Generator, cfg, obs: np.ndarray):
        self.agent, self.env, self.optimizer, self.gen, self.cfg = agent, env, optimizer, gen, cfg
        self.obs_shape = env.single_observation_space.shape
        # A recurrent agent carries its memory across updates; `first` marks each env's next
        # observation as an episode's first (the memory is zeroed before reading it).
        self.recurrent = bool(getattr(agent, "recurrent", False))
        self.memory = agent.initial_memory(cfg.num_envs) if self.recurrent else None
        self.next_first = torch.ones(cfg.num_envs, dtype=torch.bool)
        self.next_obs = torch.from_numpy(obs)
        self.prev_done = torch.zeros(cfg.num_envs, dtype=torch.bool)
        self.update, self.global_step = 0, 0
        # Called with each rollout's batch before learning (a level sampler scores its levels
        # and may mask transitions out of `valid`); None: nothing.
        self.on_rollout = None

    def iterate(self) -> tuple[list[dict], dict[str, list[float]], float]:
        """One update. Returns the episodes that finished in its rollout (`episode_stats`),
        the loss statistics per minibatch, and the value function's explained variance."""
        cfg = self.cfg
        if cfg.anneal_lr:
            frac = 1.0 - self.update / cfg.num_updates
            self.optimizer.param_groups[0]["lr"] = frac * cfg.lr
        batch, finished = self.rollout()
        if self.on_rollout is not None:
            self.on_rollout(batch)
        self.global_step += cfg.num_steps * cfg.num_envs
        self.update += 1
        stats = self.learn(batch)
        v, r = batch["values"][:-1][batch["valid"]], batch["returns"][batch["valid"]]
        var = float(r.var()) if r.numel() > 1 else float("nan")
        explained = float("nan") if not var > 0 else 1.0 - float((r - v).var()) / var
        return finished, stats, explained

    @torch.no_grad()
    def rollout(self) -> tuple[dict[str, torch.Tensor], list[dict]]:
        """num_steps steps of every env; returns the batch (with GAE) and finished episodes."""
        cfg, agent = self.cfg, self.agent
        T, B = cfg.num_steps, cfg.num_envs
        b = {
            "obs": torch.empty((T, B, *self.obs_shape), dtype=torch.uint8),
            "actions": torch.empty((T, B), dtype=torch.long),
            "logprobs": torch.empty((T, B)),
            "rewards": torch.empty((T, B)),
            "values": torch.empty((T + 1, B)),
            "terminated": torch.empty((T, B), dtype=torch.bool),
            "truncated": torch.empty((T, B), dtype=torch.bool),
            "valid": torch.empty((T, B), dtype=torch.bool),
        }
        if self.recurrent:
            b["memory0"], b["first"] = self.memory.clone(), torch.empty((T, B), dtype=torch.bool)
        finished: list[dict] = []
        for t in range(T):
            b["obs"][t] = self.next_obs
            # After an episode end, NEXT_STEP autoreset spends one step on the reset: no
            # experience there.
            b["valid"][t] = ~self.prev_done
            if self.recurrent:
                b["first"][t] = self.next_first
                logits, value, self.memory = agent.step(self.next_obs, self.memory, self.next_first)
                action, logprob, _, value = act(logits, value, None, self.gen)
                self.next_first = ~b["valid"][t]  # the reset step returns a first observation
            else:
                action, logprob, _, value = agent.get_action_and_value(
                    self.next_obs, generator=self.gen
                )
            obs, reward, term, trunc, info = self.env.step(action.numpy())
            b["actions"][t], b["logprobs"][t], b["values"][t] = action, logprob, value
            b["rewards"][t] = torch.from_numpy(np.asarray(reward, np.float32))
            b["terminated"][t] = torch.from_numpy(term)
            b["truncated"][t] = torch.from_numpy(trunc)
            self.next_obs = torch.from_numpy(obs)
            self.prev_done = b["terminated"][t] | b["truncated"][t]
            if "_episode_objectives" in info:
                finished.append(episode_stats(info))
        if self.recurrent:
            b["values"][T] = agent.step(self.next_obs, self.memory, self.next_first)[1]
        else:
            b["values"][T] = agent.get_value(self.next_obs)
        b["advantages"] = gae(
            b["rewards"], b["values"], b["terminated"], b["truncated"], cfg.gamma, cfg.gae_lambda
        )
        b["returns"] = b["advantages"] + b["values"][:-1]
        return b, finished

    def learn(self, b: dict) -> dict[str, list[float]]:
        """update_epochs passes of minibatch PPO over the rollout `b`; the loss statistics."""
        cfg, agent, gen = self.cfg, self.agent, self.gen
        stats: dict[str, list[float]] = {k: [] for k in LOSS_KEYS}
        if self.recurrent:
            per = cfg.num_envs // cfg.num_minibatches
            for _ in range(cfg.update_epochs):
                order = torch.randperm(cfg.num_envs, generator=gen)
                for i in range(0, cfg.num_envs, per):
                    e = order[i : i + per]
                    logits, values = agent.unroll(b["obs"][:, e], b["memory0"][e], b["first"][:, e])
                    sel = {k: b[k][:, e].reshape(-1) for k in _COLUMNS}
                    _, logprob, entropy, value = act(
                        logits.reshape(-1, logits.shape[-1]),
                        values.reshape(-1),
                        sel["actions"],
                        None,
                    )
                    self._step(logprob, entropy, value, sel, stats)
            return stats
        obs = b["obs"].reshape(cfg.batch_size, *self.obs_shape)
        flat = {k: b[k].reshape(-1) for k in _COLUMNS}
        mb = cfg.batch_size // cfg.num_minibatches
        for _ in range(cfg.update_epochs):
            order = torch.randperm(cfg.batch_size, generator=gen)
            for i in range(0, cfg.batch_size, mb):
                idx = order[i : i + mb]
                sel = {k: v[idx] for k, v in flat.items()}
                _, logprob, entropy, value = agent.get_action_and_value(obs[idx], sel["actions"])
                self._step(logprob, entropy, value, sel, stats)
        return stats

    def _step(self, logprob, entropy, value, sel: dict, stats: dict) -> None:
        """One clipped-PPO gradient step on a minibatch (`sel`: its rollout columns)."""
        cfg = self.cfg
        loss, s = ppo_loss(
            logprob, sel["logprobs"], sel["advantages"], value, sel["returns"], entropy,
            sel["valid"], cfg.clip_coef, cfg.vf_coef, cfg.ent_coef,
        )  # fmt: skip
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.agent.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        for k in LOSS_KEYS:
            stats[k].append(s[k])

    # --- what a resumed run needs ------------------------------------------------------------
    def state_dict(self) -> dict:
        """The algorithm's state as tensors and numbers (the env's own state is the caller's:
        it serializes differently)."""
        state = {
            "model": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_generator": self.gen.get_state(),
            "next_obs": self.next_obs,
            "prev_done": self.prev_done,
            "update": self.update,
            "global_step": self.global_step,
        }
        if self.recurrent:
            state["memory"], state["next_first"] = self.memory, self.next_first
        return state

    def load_state_dict(self, saved: dict) -> None:
        self.agent.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.gen.set_state(saved["torch_generator"])
        self.next_obs = saved["next_obs"]
        self.prev_done = saved["prev_done"]
        if self.recurrent:
            self.memory, self.next_first = saved["memory"], saved["next_first"]
        self.update, self.global_step = int(saved["update"]), int(saved["global_step"])


def episode_stats(info: dict) -> dict[str, np.ndarray]:
    """Totals of the episodes that ended this step (Gymnasium 1.x vector info: masked arrays)."""
    mask = info["_episode_objectives"]
    out = {f"objective/{k}": v[mask] for k, v in info["episode_objectives"].items()}
    out.update({f"measure/{k}": v[mask] for k, v in info["episode_measures"].items()})
    out["length"] = info["episode_length"][mask]
    return out
