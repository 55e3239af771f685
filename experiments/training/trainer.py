"""`train(cfg, run_dir) -> run_dir`: PPO on a task's train split, then evaluation on both splits.

The loop is CleanRL's PPO on our native vector env (`gym.make_vec(..., vectorization_mode=
"vector_entry_point")`), with the NEXT_STEP-autoreset handling described in `mesaworld.experiments.training.ppo`.
Everything random derives from `cfg.seed` (numpy `SeedSequence.spawn`): the envs' level streams,
the network's initial weights, sampled actions and minibatch order. Same seed, same numbers.

Checkpoints every `cfg.checkpoint_every` updates hold the optimizer, the random streams and the
exact state of every environment, so `resume=True` continues an interrupted run to the very
numbers an uninterrupted run gives.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from mesaworld.agents.registry import make_agent
from mesaworld.analysis.runfolder import (
    AGENT_FILE,
    TRAIN_LOG,
    TRAIN_STATE,
    RunFolderError,
    atomic_write_text,
    check_same_config,
    csv_text,
    exclusive,
    has_content,
    is_finished,
    read_config,
    read_log_rows,
    run_meta,
    write_config,
)
from mesaworld.envs.registry import env_id, get_task
from mesaworld.experiments.training.checkpoint import (
    CheckpointError,
    agent_options,
    env_state_from_tensors,
    env_state_to_tensors,
    load_train_state,
    save_agent,
    save_train_state,
)
from mesaworld.experiments.training.config import TrainConfig
from mesaworld.experiments.training.evaluate import evaluate_trained
from mesaworld.experiments.training.ppo import LOSS_KEYS, PPO
from mesaworld.experiments.training.progress import Progress, tensorboard, tensorboard_writer_class
from mesaworld.experiments.training.samplers.registry import SAMPLER_LEVELS, make_sampler


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
        tensorboard_writer_class()  # fail before touching the folder
    cfg.require_memory()
    with exclusive(run_dir, "train"):
        state = _prepare_folder(cfg, run_dir, resume)
        if state == "finished":
            if not quiet:
                print(f"{run_dir}: already finished, nothing to do", file=sys.stderr)
            return run_dir
        if state == "evaluate":  # trained; the evaluation was interrupted
            evaluate_trained(run_dir, read_config(run_dir))
            return run_dir
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.torch_threads)
        try:
            _Trainer(cfg, run_dir, quiet).run(state, stop_after)
        finally:
            torch.set_num_threads(threads)
    return run_dir


def _prepare_folder(cfg: TrainConfig, run_dir: Path, resume: bool) -> dict | str | None:
    """Create the run (fresh folder) or check it matches cfg (resume); the caller holds the
    folder's lock. Returns the saved training state to resume from, "finished", "evaluate"
    (trained, evaluation missing), or None for a fresh start."""
    # An existing folder: find what --resume does with it; without --resume, refuse in a line
    # that names the folder's state and suggests only what --resume (or eval) then does.
    if has_content(run_dir):
        from mesaworld.analysis.runfolder import config_difference, is_run

        exists = f"run folder {run_dir} already exists"
        if not is_run(run_dir):
            raise RunFolderError(
                f"{exists} and is not a run (no config.json); choose another --out"
            )
        if read_config(run_dir)["role"] != "trained":
            raise RunFolderError(
                f"{exists} and holds a baseline, not a trained run; choose another --out"
            )
        diff = config_difference(run_dir, cfg.to_dict(), TrainConfig.defaults())
        if is_finished(run_dir):
            if resume and diff is None:
                (run_dir / TRAIN_STATE).unlink(missing_ok=True)  # a kill right after evaluating
                return "finished"
            raise RunFolderError(
                f"{exists} and holds a finished run{'' if diff is None else f' ({diff})'}; "
                f"re-evaluate it with `mesaworld eval {run_dir}`, or choose another --out"
            )
        try:
            saved = load_train_state(run_dir)
        except CheckpointError as e:
            raise RunFolderError(str(e)) from None
        if diff is not None and not resume:
            raise RunFolderError(
                f"{exists} and holds an interrupted run made with other settings ({diff}); "
                "continue it with its own settings and --resume, or choose another --out"
            )
        check_same_config(run_dir, cfg.to_dict(), TrainConfig.defaults())  # --resume: same only
        if saved is None and (run_dir / AGENT_FILE).is_file():
            rows = len(read_log_rows(run_dir))
            if rows != cfg.num_updates:
                raise RunFolderError(
                    f"cannot finish {run_dir}: its training is done but {TRAIN_LOG} has {rows} "
                    f"of {cfg.num_updates} rows; remove the folder and train again"
                )
            if not resume:
                raise RunFolderError(
                    f"{exists} and holds a trained run whose evaluation was interrupted; "
                    "pass --resume to evaluate it, or choose another --out"
                )
            return "evaluate"
        if not resume:
            state = (
                "a run interrupted before its first checkpoint; pass --resume to start it "
                "over in place"
                if saved is None
                else f"an interrupted run (update {int(saved['update'])} of {cfg.num_updates}); "
                "pass --resume to continue it"
            )
            raise RunFolderError(f"{exists} and holds {state}, or choose another --out")
        return saved  # None: interrupted before the first checkpoint, start over in place
    meta = run_meta(
        kind="ppo",
        agent=cfg.agent_name,
        role="trained",
        task=cfg.task,
        knob=cfg.train_knob,
        seed=cfg.seed,
        eval_settings=cfg.eval_settings,
        config=cfg.to_dict(),
        total_steps=cfg.total_steps,
        preset=cfg.preset,
    )
    write_config(run_dir, meta)
    return None


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent 32-bit seeds for the envs, the network init and torch sampling."""
    env, init, sample = np.random.SeedSequence(seed).spawn(3)
    return tuple(int(s.generate_state(1)[0]) for s in (env, init, sample))  # type: ignore[return-value]


class _Trainer:
    """The run-folder side of training: builds the env and the agent from the config, drives
    `PPO.iterate`, logs a row per update, checkpoints, and evaluates at the end."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, quiet: bool) -> None:
        self.cfg, self.run_dir, self.quiet = cfg, run_dir, quiet
        env_seed, init_seed, sample_seed = _seeds(cfg.seed)
        spec = get_task(cfg.task)
        self.env = gym.make_vec(
            env_id(cfg.task),
            num_envs=cfg.num_envs,
            vectorization_mode="vector_entry_point",
            split="train",
            knob=cfg.train_knob,
            view=cfg.view,
            reward_weights=cfg.reward_mix,
        )
        self.objectives, self.measures = spec.objectives, spec.task_cls.measures
        self.reward = spec.task_cls.reward
        self.obs_shape = self.env.single_observation_space.shape
        self.n_actions = int(self.env.single_action_space.n)
        with torch.random.fork_rng(devices=[]):  # init from our seed, leave the global RNG alone
            torch.manual_seed(init_seed)
            self.options = agent_options(cfg, spec)
            agent = make_agent(
                cfg.network, self.obs_shape, self.n_actions, cfg.hidden, **self.options
            )
        optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.lr, eps=1e-5)
        gen = torch.Generator().manual_seed(sample_seed)
        engine = self.env.engine
        self.sampler = make_sampler(
            cfg.sampler, cfg.pool_size, cfg.replay_prob, engine.generator, engine.task,
            cfg.num_envs, cfg.seed, cfg.pool_alpha, spec.shift.generator("deploy"),
        )  # fmt: skip
        engine.level_source = self.sampler  # None: the generator, as without samplers
        obs, _ = self.env.reset(seed=env_seed)
        self.ppo = PPO(agent, self.env, optimizer, gen, cfg, obs)
        if self.sampler is not None:
            self.ppo.on_rollout = self._on_rollout
        self.elapsed = 0.0
        self.log: list[dict] = []
        self.tb = None

    def _on_rollout(self, b: dict) -> None:
        """The level sampler scores the rollout's levels; a robust one masks its exploration
        episodes out of the loss."""
        mask = self.sampler.end_rollout(
            b["values"].numpy(), b["advantages"].numpy(), b["returns"].numpy(), b["valid"].numpy()
        )
        if mask is not None:
            b["valid"] &= torch.from_numpy(mask)

    # --- checkpoints --------------------------------------------------------------------------
    def _restore(self, saved: dict) -> None:
        self.ppo.load_state_dict(saved)
        self.env.load_state_dict(env_state_from_tensors(saved["engine"]))
        if self.sampler is not None:
            self.sampler.load_state_dict(
                {k: v if isinstance(v, str) else v.numpy() for k, v in saved["sampler"].items()}
            )
        self.elapsed = float(saved["elapsed"])
        # The log travels in the checkpoint (a lost or longer train_log.csv cannot change it);
        # checkpoints of mesaworld 0.1 did not carry it.
        if "log" in saved:
            self.log = json.loads(saved["log"])
        else:
            rows = read_log_rows(self.run_dir)
            self.log = [r for r in rows if int(r["update"]) <= self.ppo.update]
            if len(self.log) != self.ppo.update:
                raise RunFolderError(
                    f"cannot resume {self.run_dir}: {TRAIN_LOG} has {len(self.log)} of the "
                    f"{self.ppo.update} rows its checkpoint needs; remove the folder to start over"
                )

    def _checkpoint(self) -> None:
        state = self.ppo.state_dict()
        state["engine"] = env_state_to_tensors(self.env.state_dict())
        if self.sampler is not None:
            state["sampler"] = {
                k: v if isinstance(v, str) else torch.from_numpy(v)
                for k, v in self.sampler.state_dict().items()
            }
        state["elapsed"], state["log"] = self.elapsed, json.dumps(self.log)
        # The log first: on resume, rows past the checkpoint's update are dropped.
        atomic_write_text(self.run_dir / TRAIN_LOG, csv_text(self.log))
        save_train_state(self.run_dir, state)

    # --- the loop -----------------------------------------------------------------------------
    def run(self, saved: dict | None, stop_after: int | None) -> None:
        cfg, ppo = self.cfg, self.ppo
        if saved is not None:
            self._restore(saved)
        if cfg.tensorboard:
            self.tb = tensorboard(self.run_dir / "tb")
        progress = Progress(cfg.num_updates * cfg.batch_size, self.quiet)
        progress.show(ppo.global_step, self.log[-1] if self.log else None)
        done_this_call = 0
        while ppo.update < cfg.num_updates:
            if stop_after is not None and done_this_call >= stop_after:
                self._checkpoint()
                return
            start = time.perf_counter()
            row = self._row(*ppo.iterate())
            self.elapsed += time.perf_counter() - start
            row["time/seconds"] = round(self.elapsed, 3)
            row["time/sps"] = round(ppo.global_step / max(self.elapsed, 1e-9))
            self.log.append(row)
            if self.tb is not None:
                for k, v in row.items():
                    if k not in ("update", "global_step") and math.isfinite(v):
                        self.tb.add_scalar(k, v, ppo.global_step)
            done_this_call += 1
            progress.show(ppo.global_step, row)
            if ppo.update % cfg.checkpoint_every == 0 and ppo.update < cfg.num_updates:
                self._checkpoint()
        progress.close()
        self._finish()

    def _row(self, finished: list[dict], stats: dict, explained: float) -> dict:
        """The train_log.csv row of the update that just ran."""
        eps = {k: np.concatenate([f[k] for f in finished]) for k in finished[0]} if finished else {}

        def mean(key: str) -> float:
            return float(np.mean(eps[key])) if eps else float("nan")

        row = {"update": self.ppo.update, "global_step": self.ppo.global_step}
        row["episodes"] = len(eps["length"]) if eps else 0
        mix = self.cfg.reward_mix or {self.reward: 1.0}
        row["charts/episodic_return"] = (
            sum(w * mean(f"objective/{k}") for k, w in mix.items()) if eps else float("nan")
        )
        row["charts/episodic_length"] = mean("length")
        for k in self.objectives:
            row[f"objective/{k}"] = mean(f"objective/{k}")
        for k in self.measures:
            row[f"measure/{k}"] = mean(f"measure/{k}")
        for k in LOSS_KEYS:
            row[f"losses/{k}"] = float(np.mean(stats[k]))
        row["losses/explained_variance"] = explained
        row["charts/learning_rate"] = self.ppo.optimizer.param_groups[0]["lr"]
        return row

    def _finish(self) -> None:
        cfg = self.cfg
        atomic_write_text(self.run_dir / TRAIN_LOG, csv_text(self.log))
        meta = {
            "network": cfg.network,
            "obs_shape": list(self.obs_shape),
            "n_actions": self.n_actions,
            "hidden": cfg.hidden,
            "view": cfg.view,
            "task": cfg.task,
            "global_step": self.ppo.global_step,
        }
        if self.options:
            meta[cfg.network] = self.options
        save_agent(self.ppo.agent, self.run_dir, meta)
        if self.sampler is not None:  # per level: draws, exact regret, the estimates
            table = pd.DataFrame(self.sampler.levels_table())
            atomic_write_text(self.run_dir / SAMPLER_LEVELS, table.to_csv(index=False))
        if self.tb is not None:
            self.tb.close()
        self.env.close()
        evaluate_trained(self.run_dir, read_config(self.run_dir))
        (self.run_dir / TRAIN_STATE).unlink(missing_ok=True)
