"""Level samplers' training overhead against DR, same run: env-steps/s of whole PPO training
(rollouts + updates; evaluation excluded) per sampler of the table, and its slowdown.

    python benchmarks/sampler_overhead.py                      # cheese-maze, ~3 min
    python benchmarks/sampler_overhead.py --task roomba --reps 3 --updates 12

Every sampler trains the preset at its default settings (256 envs x 32 steps, MLP, 1 torch
thread) for `--updates` updates into a temp folder, on a pool of `--pool-size` levels (default:
the samplers' own default, 1000); `dr` without a pool is today's generator path. The samplers
are trained in turn `--reps` times; each row is the median rate and the median over rounds of
DR's rate divided by the sampler's in the same round (so load that comes and goes cancels).
The rate is the train log's own `time/sps` after `--updates` updates (`stop_after`), so every
oracle call for the pool levels met so far is inside it. First, the same for the engine alone
(random actions, `end_rollout` every 32 steps): the samplers' own bookkeeping, without the
network or what the sampler makes the agent do (`--engine-only`: just those rows), and the
one-time cost of the pool's optima (computed when a run starts, outside `time/sps`; ACCEL's
edited levels get theirs when first played, inside it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.samplers.registry import SAMPLERS, make_sampler
from mesaworld.experiments.training.trainer import train


def rate(task: str, sampler: str, pool: int, updates: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = preset(task, sampler=sampler, pool_size=pool, seed=seed, eval_levels=8)
        cfg = preset(task, sampler=sampler, pool_size=pool, seed=seed, eval_levels=8,
                     total_steps=cfg.batch_size * (updates + 1))  # fmt: skip
        run = train(cfg, Path(tmp) / "run", quiet=True, stop_after=updates)
        return float(pd.read_csv(run / "train_log.csv")["time/sps"].iloc[-1])


def engine_rate(task: str, sampler: str, pool: int, steps: int, seed: int = 0) -> float:
    """Env-steps/s of the batched engine alone (uniform random actions, 256 envs), the sampler
    attached and `end_rollout` called every 32 steps as training does: its bookkeeping."""
    cfg = preset(task, sampler=sampler, pool_size=pool)
    spec = TASKS[cfg.task]
    engine = make_engine(cfg.task, cfg.num_envs, autoreset=True, knob=cfg.train_knob, view=cfg.view)
    source = make_sampler(sampler, pool, 0.5, engine.generator, engine.task, cfg.num_envs, seed,
                          None, spec.shift.generator("deploy"))  # fmt: skip
    engine.level_source = source
    engine.seed([seed + i for i in range(cfg.num_envs)])
    engine.reset()
    rng = np.random.default_rng(seed)
    t, b = cfg.num_steps, cfg.num_envs
    zeros, ones = np.zeros((t + 1, b)), np.ones((t, b), bool)
    start = time.perf_counter()
    for i in range(steps):
        engine.step(rng.integers(0, 5, b))
        engine.task.observation(engine.state)
        if source is not None and (i + 1) % t == 0:
            source.end_rollout(zeros, zeros[:-1], zeros[:-1], ones)
    return steps * b / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="cheese-maze", help="a preset name (default cheese-maze)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--updates", type=int, default=8)
    ap.add_argument("--pool-size", type=int, default=1000)
    ap.add_argument("--engine-only", action="store_true", help="only the engine rows")
    args = ap.parse_args()
    rows = [("dr (generator, no pool)", "dr", 0)]
    rows += [(name, name, args.pool_size) for name in SAMPLERS]
    spec = TASKS[preset(args.task).task]
    start = time.perf_counter()
    pool = make_sampler("dr", args.pool_size, 0.5, spec.shift.generator("train"), spec.rules(),
                        1, 0)  # fmt: skip
    print(f"{args.task}: the oracle on all {pool.n} pool levels, once per run: "
          f"{time.perf_counter() - start:.2f} s (pool made, optima computed)")  # fmt: skip
    engine: dict[str, list[float]] = {label: [] for label, _, _ in rows}
    for _ in range(args.reps):
        for label, name, pool in rows:
            engine[label].append(engine_rate(args.task, name, pool, 32 * args.updates * 4))
    print(f"{args.task}, the engine alone (random actions, {32 * args.updates * 4} steps of 256 "
          f"envs, {args.reps} rounds; load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    _print(rows, engine)
    if args.engine_only:
        return
    rates: dict[str, list[float]] = {label: [] for label, _, _ in rows}
    for rep in range(args.reps):
        for label, name, pool in rows:
            rates[label].append(rate(args.task, name, pool, args.updates, seed=rep))
    print(
        f"{args.task}, PPO training: {args.updates} updates of 256 envs x 32 steps, pool "
        f"{args.pool_size}, {args.reps} rounds; load average {os.getloadavg()[0]:.1f} at the end"
    )
    _print(rows, rates)


def _print(rows, rates: dict[str, list[float]]) -> None:
    base = rates[rows[0][0]]
    print(f"{'sampler':<26}{'env-steps/s':>12}{'slowdown vs dr':>16}")
    for label, _, _ in rows:
        slow = statistics.median(b / r for b, r in zip(base, rates[label]))
        print(f"{label:<26}{statistics.median(rates[label]):>12,.0f}{slow:>15.2f}x")


if __name__ == "__main__":
    main()
