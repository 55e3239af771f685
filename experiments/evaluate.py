"""Evaluation on fixed train and deploy level sets, written as tidy files into a run folder.

Every run is scored on the same levels: a split's evaluation set is drawn from `eval_seed` alone
(the train set at the shift's default knob, whatever knob the run trained with), one episode per
level, all levels stepped as one batch. A policy is any object with

    view: str                                   "full" or "egocentric"
    act(obs: uint8[B, C, H, W], rng) -> int64[B]

(`TorchPolicy` wraps a trained network, `PlannerPolicy` a scripted planner, `RandomPolicy` picks
uniformly.) Files written (atomically):

    episodes.csv     one row per episode: split, level, eval_seed, length, the return under every
                     objective (`return/<name>`), every measure (`measure/<name>`), the level's
                     `count/<name>` of the objects the task counts and `optimal/<objective>` (the oracle; NaN = unknown)
    eval_<split>.npz levels uint8[n, H, W] (char codes), visits int32[n, H, W] (agent positions),
                     actions int8[n, max_steps] (each episode's actions, -1 after its end: the
                     episode replays exactly, e.g. on `envs.tabular`, for inverse RL),
                     frames_<i> uint8[T, H, W] (the level as it was at every step, first episodes)
    eval.json        the evaluation settings
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from envs.generators import SPLITS
from envs.gym_env import make_engine
from envs.registry import TASKS
from experiments.runio import atomic_write_bytes, atomic_write_text

N_FRAMES = 4  # episodes per split whose every step is kept for GIFs


@dataclass(frozen=True)
class EvalSettings:
    eval_seed: int
    levels: int
    greedy: bool = False


def eval_levels(task: str, split: str, n: int, eval_seed: int) -> np.ndarray:
    """The fixed evaluation set: uint8[n, H, W] level codes, drawn from `eval_seed` alone."""
    shift = TASKS[task].shift
    generator = shift.generator(split)  # train: the shift's default knob, for every run
    stream = np.random.default_rng(
        np.random.SeedSequence(eval_seed, spawn_key=(SPLITS.index(split),))
    )
    return generator.build(stream.random((n, generator.n_uniforms)))


class TorchPolicy:
    """A trained actor-critic: sampled actions (default) or argmax."""

    def __init__(self, agent: torch.nn.Module, view: str, greedy: bool = False) -> None:
        self.agent, self.view, self.greedy = agent, view, greedy
        self.name = "ppo"

    @torch.no_grad()
    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        logits = self.agent.logits(torch.from_numpy(obs))
        if self.greedy:
            return logits.argmax(-1).numpy()
        # Gumbel-max sampling from a numpy stream: the evaluation seed decides every action.
        gumbel = -np.log(-np.log(rng.random(logits.shape)))
        return (logits.numpy() + gumbel).argmax(-1)


class PlannerPolicy:
    """A scripted planner (`agents.planners`) acting on each env's full observation."""

    view = "full"

    def __init__(self, planner) -> None:
        self.planner, self.name = planner, planner.name

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.array([self.planner.act(o) for o in obs], np.int64)


class RandomPolicy:
    """Uniformly random actions: the floor of every metric."""

    view, name = "full", "random"

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 5, len(obs))


def evaluate(
    policy, task: str, settings: EvalSettings, task_kwargs: dict | None = None
) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """Play one episode on every evaluation level of both splits.

    Returns (rows for episodes.csv, per-split arrays for eval_<split>.npz).
    """
    rows: list[dict] = []
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for s_idx, split in enumerate(SPLITS):
        codes = eval_levels(task, split, settings.levels, settings.eval_seed)
        engine = make_engine(
            task, len(codes), autoreset=False, view=policy.view, **(task_kwargs or {})
        )
        t = engine.task
        engine.load_codes(codes)
        rng = np.random.default_rng(
            np.random.SeedSequence(settings.eval_seed, spawn_key=(s_idx, 1))
        )
        n, (h, w) = len(codes), t.shape
        visits = np.zeros((n, h * w), np.int32)
        np.add.at(visits, (np.arange(n), engine.state.pos), 1)
        frames = [[t.to_codes(engine.state, i)] for i in range(min(N_FRAMES, n))]
        done = np.zeros(n, bool)
        returns = np.zeros((len(t.objectives), n))
        measures = np.zeros((len(t.measures), n))
        length = np.zeros(n, np.int64)
        taken = np.full((n, int(t.max_steps)), -1, np.int8)
        while not done.all():
            actions = np.asarray(policy.act(t.observation(engine.state), rng), np.int64)
            out = engine.step(actions)
            live = ~done  # envs whose episode was still running before this step
            taken[live, length[live]] = actions[live]
            returns[:, live] += out["objectives"][:, live]
            measures[:, live] += out["measures"][:, live]
            length[live] += 1
            np.add.at(visits, (np.flatnonzero(live), engine.state.pos[live]), 1)
            for i, f in enumerate(frames):
                if live[i]:
                    f.append(t.to_codes(engine.state, i))
            done |= out["done"]
        counts = _level_counts(t, codes)
        for i in range(n):
            row = {
                "split": split,
                "level": i,
                "eval_seed": settings.eval_seed,
                "length": int(length[i]),
            }
            row.update({f"return/{k}": float(returns[j, i]) for j, k in enumerate(t.objectives)})
            row.update({f"measure/{k}": float(measures[j, i]) for j, k in enumerate(t.measures)})
            row.update({f"count/{k}": v[i] for k, v in counts.items()})
            optimal = t.optimal_returns(codes[i])
            row.update({f"optimal/{k}": float(optimal.get(k, np.nan)) for k in t.objectives})
            rows.append(row)
        arrays[split] = {"levels": codes, "visits": visits.reshape(n, h, w), "actions": taken}
        arrays[split].update({f"frames_{i}": np.stack(f) for i, f in enumerate(frames)})
    return rows, arrays


def _level_counts(task, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-level counts of the objects the task names in `counted` (e.g. count/dust_can)."""
    flat = codes.reshape(len(codes), -1)
    return {name: (flat == ord(ch)).sum(1) for ch, name in task.counted.items()}


def write_evaluation(run_dir: Path, rows: list[dict], arrays: dict, settings: EvalSettings) -> None:
    """Write eval_<split>.npz, eval.json, then episodes.csv (last: its presence means done)."""
    run_dir = Path(run_dir)
    for split, data in arrays.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, **data)
        atomic_write_bytes(run_dir / f"eval_{split}.npz", buf.getvalue())
    atomic_write_text(run_dir / "eval.json", json.dumps(settings.__dict__, indent=2) + "\n")
    atomic_write_text(run_dir / "episodes.csv", rows_to_csv(rows))


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    return buf.getvalue()


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return repr(float(v)) if np.isfinite(v) else "nan"
    return str(v)
