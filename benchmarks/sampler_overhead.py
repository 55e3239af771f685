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
oracle call for the pool levels met so far is inside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import pandas as pd

from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.samplers.registry import SAMPLERS
from mesaworld.experiments.training.trainer import train


def rate(task: str, sampler: str, pool: int, updates: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = preset(task, sampler=sampler, pool_size=pool, seed=seed, eval_levels=8)
        cfg = preset(task, sampler=sampler, pool_size=pool, seed=seed, eval_levels=8,
                     total_steps=cfg.batch_size * (updates + 1))  # fmt: skip
        run = train(cfg, Path(tmp) / "run", quiet=True, stop_after=updates)
        return float(pd.read_csv(run / "train_log.csv")["time/sps"].iloc[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="cheese-maze", help="a preset name (default cheese-maze)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--updates", type=int, default=8)
    ap.add_argument("--pool-size", type=int, default=1000)
    args = ap.parse_args()
    rows = [("dr (generator, no pool)", "dr", 0)]
    rows += [(name, name, args.pool_size) for name in SAMPLERS]
    rates: dict[str, list[float]] = {label: [] for label, _, _ in rows}
    for rep in range(args.reps):
        for label, name, pool in rows:
            rates[label].append(rate(args.task, name, pool, args.updates, seed=rep))
    base = rates[rows[0][0]]
    print(
        f"{args.task}: {args.updates} updates of 256 envs x 32 steps, pool {args.pool_size}, "
        f"{args.reps} rounds; load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"{'sampler':<26}{'env-steps/s':>12}{'slowdown vs dr':>16}")
    for label, _, _ in rows:
        slow = statistics.median(b / r for b, r in zip(base, rates[label]))
        print(f"{label:<26}{statistics.median(rates[label]):>12,.0f}{slow:>15.2f}x")


if __name__ == "__main__":
    main()
