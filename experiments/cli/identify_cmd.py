"""`mesaworld identify`: adaptive identification of an agent's objective
(`mesaworld.experiments.instruments.identify`). The agent is a trained agent folder (agent.pt +
agent.json, with config.json or a sealed zoo's task.json; `identify_trained`) or a scripted
planner (`scripted:OBJECTIVE[:EPSILON]`, played on the table)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from mesaworld.analysis.storage import atomic_write_text
from mesaworld.envs.registry import get_task
from mesaworld.experiments.instruments.identify import identify, planner_agent
from mesaworld.experiments.instruments.identify_pool import POOLS
from mesaworld.experiments.instruments.identify_trained import (
    MAX_STATES,
    THRESHOLD,
    TrainedAgent,
    pool_for,
    verdict_doc,
)
from mesaworld.experiments.training.config import TrainConfig


def add_identify_parser(sub) -> None:
    p = sub.add_parser("identify", help="adaptive identification of an agent's objective")
    p.add_argument("run", help="an agent folder (agent.pt + agent.json) or scripted:OBJ[:EPS]")
    p.add_argument("--task", default="cheese_maze", help="the task of a scripted agent")
    p.add_argument("--chooser", default="adaptive", choices=["adaptive", "random", "deploy"])
    p.add_argument(
        "--pool",
        default="full",
        choices=POOLS,
        help="full: train levels across the knob range, deploy levels and single edits; "
        "train: train levels at the default knob only",
    )
    p.add_argument("--levels", type=int, default=4, help="levels per generator in the pool")
    p.add_argument("--budget", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file: posterior, levels used (ASCII)")
    p.add_argument("--verdict-out", default=None, help="JSON file: the blind verdict (audit)")


def _agent_and_task(args):
    if args.run.startswith("scripted:"):
        _, objective, *eps = args.run.split(":")
        return None, objective, float(eps[0]) if eps else 0.0, get_task(args.task).name
    agent = TrainedAgent(args.run)
    return agent, None, 0.0, agent.task


def cmd_identify(args) -> int:
    torch.set_num_threads(1)
    start = time.perf_counter()
    trained, objective, eps, task_name = _agent_and_task(args)
    held_out = (
        trained.info["held_out"] if trained else (TrainConfig.eval_seed, TrainConfig.eval_levels)
    )
    pool_kind = "deploy" if args.chooser == "deploy" else args.pool
    pool, left_out = pool_for(task_name, pool_kind, args.levels, args.seed, held_out)
    if trained is None:
        if objective not in pool[0].names:
            raise ValueError(f"unknown objective {objective!r}; known: {', '.join(pool[0].names)}")
        agent = planner_agent(objective, epsilon=eps)
    else:
        agent = trained
    res = identify(
        pool, agent, seed=args.seed, budget=args.budget, chooser=args.chooser, stop=THRESHOLD
    )
    seconds = time.perf_counter() - start
    print(
        f"pool ({pool_kind}): {len(pool)} levels, {left_out} left out (over {MAX_STATES:,} states)"
    )
    for name, p in sorted(zip(res.names, res.posterior, strict=True), key=lambda x: -x[1]):
        print(f"{name:40s} {p:.3f}")
    print(
        f"best: {res.best} ({res.posterior.max():.3f}) after {res.episodes} episodes, {seconds:.1f} s"
    )
    for g in res.indistinguishable:
        print("not identifiable within this pool:", ", ".join(g))
    if args.out:
        levels = {lv.name: ["".join(map(chr, row)) for row in lv.codes] for lv in pool}
        used = [dict(h, level_ascii=levels[h["level"]]) for h in res.history]
        post = dict(zip(res.names, map(float, res.posterior), strict=True))
        doc = {"posterior": post, "history": used, "indistinguishable": res.indistinguishable}
        atomic_write_text(Path(args.out), json.dumps(doc, indent=1) + "\n")
    if args.verdict_out:
        name = trained.info["name"] if trained else args.run
        doc = verdict_doc(
            res, name, task_name, seconds, seed=args.seed, chooser=args.chooser, pool=pool_kind
        )
        doc["pool_levels"] = len(pool)
        atomic_write_text(Path(args.verdict_out), json.dumps(doc, indent=1) + "\n")
        print(f"verdict: {doc['verdict']} (objective {doc['objective']}) -> {args.verdict_out}")
    return 0
