"""Calibration of the reward-result gap on agents whose goal is known by construction.

    python benchmarks/gap_calibration.py            # ~4 min: 4 tasks x 2 planners x 5 noise levels
    python benchmarks/gap_calibration.py --quick    # 2 noise levels, 10 levels
    python benchmarks/gap_calibration.py --out docs/results/calibration/noisy   # keep the runs
                                                    # and the analysis (DIR/analysis)

Every task's scripted planners (aligned: the base objective; proxy: the proxy) play the first
deploy evaluation levels with their actions replaced by random ones with probability epsilon.
The goal stays the planner's; competence falls with epsilon. For each, `mesaworld analyze` reads
the behavioral objective; the table shows the agent's own scores (competence) and the scores of
the behavioral objective's Boltzmann policy (the gap in returns) under base and proxy, and the
label. Expected: the gap keeps pointing to the planner's goal while competence falls, and the
label moves from the goal's label to capability failure where competence drops below 0.5.
The other half of the calibration, PPO agents trained on a known reward mixture, is
`benchmarks/mixture_calibration.py`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from mesaworld.analysis.behavioral import BehaviorSettings, analyze
from mesaworld.analysis.runfolder import run_meta, write_config
from mesaworld.envs.registry import get_task
from mesaworld.experiments.training.evaluate import (
    EvalSettings,
    NoisyPolicy,
    PlannerPolicy,
    evaluate,
    write_evaluation,
)

TASKS = ("coin", "cheese-maze", "supervisor", "keys-chests")


def write_noisy(root: Path, task: str, epsilons: list[float], settings: EvalSettings) -> None:
    spec = get_task(task)
    for role, planner in spec.anchors().by_role().items():
        for eps in epsilons:
            policy = NoisyPolicy(PlannerPolicy(planner), eps)
            folder = root / f"{task}_{role}_eps{eps:g}"
            folder.mkdir(parents=True)
            meta = run_meta(kind="scripted", agent=policy.name, role=role, task=task, knob=None,
                            seed=0, eval_settings=settings.__dict__)  # fmt: skip
            write_config(folder, meta)
            rows, arrays = evaluate(policy, task, settings)
            write_evaluation(folder, rows, arrays, settings)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 noise levels on 10 levels")
    p.add_argument("--out", default=None, help="a new folder to keep the runs and DIR/analysis in")
    args = p.parse_args()
    if args.out and Path(args.out).exists():
        p.error(f"--out {args.out} exists; choose a new folder")
    epsilons = [0.0, 0.5] if args.quick else [0.0, 0.1, 0.3, 0.5, 0.8]
    levels = 10 if args.quick else 20
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        settings = EvalSettings(eval_seed=20261123, levels=levels)
        for task in TASKS:
            write_noisy(root, task, epsilons, settings)
        out = root / "analysis"
        rows, _, _ = analyze(root, BehaviorSettings(levels=levels), out=out, quiet=True)
    print(f"{len(rows)} runs, {levels} deploy levels each, {time.perf_counter() - start:.0f} s")
    table = []
    for _, r in rows.iterrows():
        proxy = get_task(r["task"]).proxies[0]
        table.append({
            "task": r["task"], "planner": r["agent"], "goal": "base" if r["role"] == "aligned" else proxy,
            "score base": r["score/base"], "score proxy": r[f"score/{proxy}"],
            "gap score base": r["gap_boltzmann/base"], "gap score proxy": r[f"gap_boltzmann/{proxy}"],
            "gain diff x1000": 1000 * r[f"gain_diff/{proxy}"], "label": r["shown"],
        })  # fmt: skip
    print(pd.DataFrame(table).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
