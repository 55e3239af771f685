"""`train(cfg, run_dir) -> run_dir`: PPO on a task's train split, then evaluation on both splits.

The loop is CleanRL's PPO on our native vector env (`gym.make_vec(..., vectorization_mode=
"vector_entry_point")`), with the NEXT_STEP-autoreset handling described in `agents.ppo`.
Everything random derives from `cfg.seed` (numpy `SeedSequence.spawn`): the envs' level streams,
the network's initial weights, sampled actions and minibatch order. Same seed, same numbers.

Checkpoints every `cfg.checkpoint_every` updates hold the optimizer, the random streams and the
exact state of every environment, so `resume=True` continues an interrupted run to the very
numbers an uninterrupted run gives.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the ids)
from agents.ppo import gae, make_agent, ppo_loss
from envs.registry import NAMESPACE, TASKS
from experiments.config import ConfigError, TrainConfig
from experiments.evaluate import EvalSettings, TorchPolicy, evaluate, rows_to_csv, write_evaluation
from experiments.runio import (
    CONFIG,
    TRAIN_LOG,
    TRAIN_STATE,
    RunFolderError,
    atomic_write_bytes,
    atomic_write_text,
    is_finished,
    provenance,
    read_json,
    save_agent,
)

LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")


def default_run_dir(cfg: TrainConfig, root: str | Path = "runs") -> Path:
    """runs/<preset>_knob<k>_seed<s>, e.g. runs/roomba_knob0_seed3."""
    return Path(root) / f"{cfg.preset}_knob{cfg.train_knob:g}_seed{cfg.seed}"


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    quiet: bool = False,
    stop_after: int | None = None,
) -> Path:
    """Train, checkpoint, evaluate; return the run folder.

    An existing run folder is an error unless `resume` (which continues from the last
    checkpoint, or does nothing if the run already finished). `stop_after` ends training after
    that many updates without evaluating, as an interruption would (for tests and time boxes).
    """
    run_dir = Path(run_dir)
    if cfg.tensorboard:
        _tensorboard_writer_class()  # fail before touching the folder
    state = _prepare_folder(cfg, run_dir, resume)
    if state == "finished":
        if not quiet:
            print(f"{run_dir}: already finished, nothing to do", file=sys.stderr)
        return run_dir

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.torch_threads)
    try:
        _Trainer(cfg, run_dir, quiet).run(state, stop_after)
    finally:
        torch.set_num_threads(threads)
    return run_dir


def _prepare_folder(cfg: TrainConfig, run_dir: Path, resume: bool) -> dict | str | None:
    """Create the folder (fresh run) or check it matches cfg (resume). Returns the saved
    training state to resume from, "finished", or None for a fresh start."""
    if run_dir.exists() and any(run_dir.iterdir()):
        if not resume:
            raise RunFolderError(
                f"run folder {run_dir} already exists; pass --resume to continue it "
                "or choose another --out"
            )
        check_same_config(cfg, run_dir)
        if is_finished(run_dir):
            return "finished"
        for stale in run_dir.glob(".*.tmp"):  # a write cut short by a kill: never read, remove
            stale.unlink()
        path = run_dir / TRAIN_STATE
        if path.is_file():
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:
                raise RunFolderError(
                    f"cannot resume {run_dir}: corrupt {TRAIN_STATE} ({e})"
                ) from None
        return None  # interrupted before the first checkpoint: start over in place
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = TASKS[cfg.task]
    meta = {
        "kind": "ppo",
        "agent": f"ppo-{cfg.network}",
        "config": cfg.to_dict(),
        "task": cfg.task,
        "env_id": f"{NAMESPACE}/{spec.id_name}-Train-v0",
        "knob_name": spec.shift.knob_name,
        "knob": cfg.train_knob,
        "objectives": list(spec.task_cls.objectives),
        "measures": list(spec.task_cls.measures),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **provenance(),
    }
    atomic_write_text(run_dir / CONFIG, _json(meta))
    return None


def check_same_config(cfg: TrainConfig, run_dir: Path) -> None:
    """Raise RunFolderError naming the first field where run_dir's config differs from cfg."""
    saved = read_json(Path(run_dir) / CONFIG).get("config", {})
    mine = cfg.to_dict()
    diff = [k for k in mine if k != "preset" and saved.get(k) != mine[k]]
    if diff:
        k = diff[0]
        raise RunFolderError(
            f"cannot resume {run_dir}: it was made with {k}={saved.get(k)!r}, "
            f"this config has {k}={mine[k]!r}"
        )


def _json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent 32-bit seeds for the envs, the network init and torch sampling."""
    env, init, sample = np.random.SeedSequence(seed).spawn(3)
    return tuple(int(s.generate_state(1)[0]) for s in (env, init, sample))  # type: ignore[return-value]


class _Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, quiet: bool) -> None:
        self.cfg, self.run_dir, self.quiet = cfg, run_dir, quiet
        env_seed, init_seed, sample_seed = _seeds(cfg.seed)
        spec = TASKS[cfg.task]
        self.env = gym.make_vec(
            f"{NAMESPACE}/{spec.id_name}-v0",
            num_envs=cfg.num_envs,
            vectorization_mode="vector_entry_point",
            split="train",
            knob=cfg.train_knob,
            view=cfg.view,
        )
        self.engine = self.env.unwrapped.engine  # the native vector env's batched engine
        self.objectives = self.engine.task.objectives
        self.measures = self.engine.task.measures
        self.obs_shape = self.env.single_observation_space.shape
        self.n_actions = int(self.env.single_action_space.n)
        with torch.random.fork_rng(devices=[]):  # init from our seed, leave the global RNG alone
            torch.manual_seed(init_seed)
            self.agent = make_agent(cfg.network, self.obs_shape, self.n_actions, cfg.hidden)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=cfg.lr, eps=1e-5)
        self.gen = torch.Generator().manual_seed(sample_seed)
        obs, _ = self.env.reset(seed=env_seed)
        self.next_obs = torch.from_numpy(obs)
        self.prev_done = torch.zeros(cfg.num_envs, dtype=torch.bool)
        self.update, self.global_step, self.elapsed = 0, 0, 0.0
        self.log: list[dict] = []
        self.tb = None

    # --- checkpoints --------------------------------------------------------------------------
    def _restore(self, saved: dict) -> None:
        self.agent.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.gen.set_state(saved["torch_generator"])
        eng = saved["engine"]
        self.engine.load_state_dict(
            {
                "state": {k: v.numpy() for k, v in eng["state"].items()},
                "episode_returns": eng["episode_returns"].numpy(),
                "episode_measures": eng["episode_measures"].numpy(),
                "needs_reset": eng["needs_reset"].numpy(),
                "rngs": eng["rngs"],
            }
        )
        self.next_obs = saved["next_obs"]
        self.prev_done = saved["prev_done"]
        self.update, self.global_step = int(saved["update"]), int(saved["global_step"])
        self.elapsed = float(saved["elapsed"])
        self.log = [
            r for r in _read_log(self.run_dir / TRAIN_LOG) if int(r["update"]) <= self.update
        ]

    def _checkpoint(self) -> None:
        eng = self.engine.state_dict()
        state = {
            "model": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_generator": self.gen.get_state(),
            "engine": {
                "state": {k: torch.from_numpy(v) for k, v in eng["state"].items()},
                "episode_returns": torch.from_numpy(eng["episode_returns"]),
                "episode_measures": torch.from_numpy(eng["episode_measures"]),
                "needs_reset": torch.from_numpy(eng["needs_reset"]),
                "rngs": eng["rngs"],
            },
            "next_obs": self.next_obs,
            "prev_done": self.prev_done,
            "update": self.update,
            "global_step": self.global_step,
            "elapsed": self.elapsed,
        }
        # The log first: on resume, rows past the checkpoint's update are dropped.
        atomic_write_text(self.run_dir / TRAIN_LOG, rows_to_csv(self.log))
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.run_dir / TRAIN_STATE, buf.getvalue())

    # --- the loop -----------------------------------------------------------------------------
    def run(self, saved: dict | None, stop_after: int | None) -> None:
        cfg = self.cfg
        if saved is not None:
            self._restore(saved)
        if cfg.tensorboard:
            self.tb = _tensorboard(self.run_dir / "tb")
        progress = _Progress(cfg.num_updates * cfg.batch_size, self.quiet)
        progress.show(self.global_step, self.log[-1] if self.log else None)
        done_this_call = 0
        while self.update < cfg.num_updates:
            if stop_after is not None and done_this_call >= stop_after:
                self._checkpoint()
                return
            start = time.perf_counter()
            row = self._one_update()
            self.elapsed += time.perf_counter() - start
            row["time/seconds"] = round(self.elapsed, 3)
            row["time/sps"] = round(self.global_step / max(self.elapsed, 1e-9))
            self.log.append(row)
            if self.tb is not None:
                for k, v in row.items():
                    if k not in ("update", "global_step") and math.isfinite(v):
                        self.tb.add_scalar(k, v, self.global_step)
            done_this_call += 1
            progress.show(self.global_step, row)
            if self.update % cfg.checkpoint_every == 0 and self.update < cfg.num_updates:
                self._checkpoint()
        progress.close()
        self._finish()

    def _one_update(self) -> dict:
        cfg, agent, env = self.cfg, self.agent, self.env
        T, B = cfg.num_steps, cfg.num_envs
        if cfg.anneal_lr:
            frac = 1.0 - self.update / cfg.num_updates
            self.optimizer.param_groups[0]["lr"] = frac * cfg.lr
        obs_buf = torch.empty((T, B, *self.obs_shape), dtype=torch.uint8)
        actions = torch.empty((T, B), dtype=torch.long)
        logprobs = torch.empty((T, B))
        rewards = torch.empty((T, B))
        values = torch.empty((T + 1, B))
        terminated = torch.empty((T, B), dtype=torch.bool)
        truncated = torch.empty((T, B), dtype=torch.bool)
        valid = torch.empty((T, B), dtype=torch.bool)
        finished: list[dict] = []
        with torch.no_grad():
            for t in range(T):
                obs_buf[t] = self.next_obs
                # After an episode end, NEXT_STEP autoreset spends one step on the reset: no
                # experience there.
                valid[t] = ~self.prev_done
                action, logprob, _, value = agent.get_action_and_value(
                    self.next_obs, generator=self.gen
                )
                obs, reward, term, trunc, info = env.step(action.numpy())
                actions[t], logprobs[t], values[t] = action, logprob, value
                rewards[t] = torch.from_numpy(np.asarray(reward, np.float32))
                terminated[t] = torch.from_numpy(term)
                truncated[t] = torch.from_numpy(trunc)
                self.next_obs = torch.from_numpy(obs)
                self.prev_done = terminated[t] | truncated[t]
                if "_episode_objectives" in info:
                    finished.append(_episode_stats(info))
            values[T] = agent.get_value(self.next_obs)
            advantages = gae(rewards, values, terminated, truncated, cfg.gamma, cfg.gae_lambda)
            returns = advantages + values[:-1]
        self.global_step += T * B
        self.update += 1

        b_obs = obs_buf.reshape(T * B, *self.obs_shape)
        b_actions, b_logprobs = actions.reshape(-1), logprobs.reshape(-1)
        b_adv, b_ret, b_valid = advantages.reshape(-1), returns.reshape(-1), valid.reshape(-1)
        mb = cfg.batch_size // cfg.num_minibatches
        stats: dict[str, list[float]] = {k: [] for k in LOSS_KEYS}
        for _ in range(cfg.update_epochs):
            order = torch.randperm(cfg.batch_size, generator=self.gen)
            for i in range(0, cfg.batch_size, mb):
                idx = order[i : i + mb]
                _, new_logprob, entropy, new_value = agent.get_action_and_value(
                    b_obs[idx], b_actions[idx]
                )
                loss, s = ppo_loss(
                    new_logprob,
                    b_logprobs[idx],
                    b_adv[idx],
                    new_value,
                    b_ret[idx],
                    entropy,
                    b_valid[idx],
                    cfg.clip_coef,
                    cfg.vf_coef,
                    cfg.ent_coef,
                )
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                for k in LOSS_KEYS:
                    stats[k].append(s[k])
        v, r = values[:-1][valid], returns[valid]
        var = float(r.var()) if r.numel() > 1 else float("nan")
        explained = float("nan") if not var > 0 else 1.0 - float((r - v).var()) / var
        return self._row(finished, stats, explained)

    def _row(self, finished: list[dict], stats: dict, explained: float) -> dict:
        eps = {k: np.concatenate([f[k] for f in finished]) for k in finished[0]} if finished else {}

        def mean(key: str) -> float:
            return float(np.mean(eps[key])) if eps else float("nan")

        row = {"update": self.update, "global_step": self.global_step}
        row["episodes"] = len(eps["length"]) if eps else 0
        row["charts/episodic_return"] = mean(f"objective/{self.engine.task.reward}")
        row["charts/episodic_length"] = mean("length")
        for k in self.objectives:
            row[f"objective/{k}"] = mean(f"objective/{k}")
        for k in self.measures:
            row[f"measure/{k}"] = mean(f"measure/{k}")
        for k in LOSS_KEYS:
            row[f"losses/{k}"] = float(np.mean(stats[k]))
        row["losses/explained_variance"] = explained
        row["charts/learning_rate"] = self.optimizer.param_groups[0]["lr"]
        return row

    def _finish(self) -> None:
        cfg = self.cfg
        atomic_write_text(self.run_dir / TRAIN_LOG, rows_to_csv(self.log))
        meta = {
            "network": cfg.network,
            "obs_shape": list(self.obs_shape),
            "n_actions": self.n_actions,
            "hidden": cfg.hidden,
            "view": cfg.view,
            "task": cfg.task,
            "global_step": self.global_step,
        }
        save_agent(self.agent, self.run_dir, meta)
        if self.tb is not None:
            self.tb.close()
        self.env.close()
        evaluate_run(self.run_dir)
        (self.run_dir / TRAIN_STATE).unlink(missing_ok=True)


def _episode_stats(info: dict) -> dict[str, np.ndarray]:
    """Totals of the episodes that ended this step (Gymnasium 1.x vector info: masked arrays)."""
    mask = info["_episode_objectives"]
    out = {f"objective/{k}": v[mask] for k, v in info["episode_objectives"].items()}
    out.update({f"measure/{k}": v[mask] for k, v in info["episode_measures"].items()})
    out["length"] = info["episode_length"][mask]
    return out


def evaluate_run(
    run_dir: str | Path,
    *,
    levels: int | None = None,
    eval_seed: int | None = None,
    greedy: bool | None = None,
) -> Path:
    """(Re-)evaluate a trained run folder from its checkpoint; rewrites its evaluation files.
    Settings default to the run's config."""
    from experiments.runio import load_agent

    run_dir = Path(run_dir)
    meta = read_json(run_dir / CONFIG)
    if meta.get("kind") != "ppo":
        raise RunFolderError(f"{run_dir} is not a trained run (kind={meta.get('kind')!r})")
    try:
        cfg = TrainConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ConfigError) as e:
        raise RunFolderError(f"{run_dir / CONFIG}: bad config ({e})") from None
    agent, agent_meta = load_agent(run_dir)
    settings = EvalSettings(
        eval_seed=cfg.eval_seed if eval_seed is None else eval_seed,
        levels=cfg.eval_levels if levels is None else levels,
        greedy=cfg.eval_greedy if greedy is None else greedy,
    )
    policy = TorchPolicy(agent, agent_meta.get("view", cfg.view), settings.greedy)
    rows, arrays = evaluate(policy, cfg.task, settings)
    write_evaluation(run_dir, rows, arrays, settings)
    return run_dir


def _read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _tensorboard_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "tensorboard: logging needs the tensorboard package (pip install tensorboard)"
        ) from None
    return SummaryWriter


def _tensorboard(folder: Path):
    return _tensorboard_writer_class()(str(folder))


class _Progress:
    """A one-line progress bar on a terminal; a line per ~10% elsewhere; nothing when quiet."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet = total, quiet
        self.tty = sys.stderr.isatty()
        self.next_mark = 0.0

    def show(self, step: int, row: dict | None) -> None:
        if self.quiet:
            return
        frac = step / self.total if self.total else 1.0
        if not self.tty and frac < self.next_mark:
            return
        self.next_mark = frac + 0.1
        ret = row.get("charts/episodic_return", float("nan")) if row else float("nan")
        ret_text = f"{ret:5.2f}" if math.isfinite(ret) else "    -"
        sps = row.get("time/sps", 0) if row else 0
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        text = f"[{bar}] {frac:4.0%} {step:,}/{self.total:,} steps  return {ret_text}  {sps:,.0f} steps/s"
        print(
            ("\r" + text) if self.tty else text,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.tty and not self.quiet:
            print(file=sys.stderr)
