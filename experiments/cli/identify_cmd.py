"""`mesaworld identify`: adaptive identification of an agent's objective
(`mesaworld.experiments.instruments.identify`). For now the agent is a scripted planner
(`scripted:OBJECTIVE[:EPSILON]`); trained run folders are refused in one line."""

from __future__ import annotations

import json

import numpy as np

from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import get_task
from mesaworld.experiments.instruments.identify import build_pool, identify, planner_agent
from mesaworld.experiments.training.evaluate import eval_levels


def add_identify_parser(sub) -> None:
    p = sub.add_parser("identify", help="adaptive identification of an agent's objective")
    p.add_argument("run", help="scripted:OBJECTIVE[:EPSILON] (run folders: not yet)")
    p.add_argument("--task", default="cheese_maze")
    p.add_argument("--chooser", default="adaptive", choices=["adaptive", "random", "deploy"])
    p.add_argument("--pool", type=int, default=6, help="levels per generator in the pool")
    p.add_argument("--budget", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file: posterior, levels used (ASCII)")


def cmd_identify(args) -> int:
    if not args.run.startswith("scripted:"):
        raise ValueError(f"{args.run}: only scripted:OBJECTIVE[:EPSILON] agents are supported yet")
    _, objective, *eps = args.run.split(":")
    spec = get_task(args.task)
    task = make_engine(spec.name, 1, autoreset=False).task
    if args.chooser == "deploy":
        codes = eval_levels(spec.name, "deploy", args.pool, 0)
    else:
        lo, hi = spec.shift.knob_range
        seeds = np.random.SeedSequence(args.seed).generate_state(3)
        parts = [eval_levels(spec.name, "deploy", args.pool, int(seeds[0]) + 1000)]
        for k, knob in enumerate((lo, hi)):
            parts.append(eval_levels(spec.name, "train", args.pool, int(seeds[k + 1]) + 1000, knob))
        codes = np.concatenate(parts)
    pool = build_pool(task, codes)
    if objective not in pool[0].names:
        raise ValueError(f"unknown objective {objective!r}; known: {', '.join(pool[0].names)}")
    agent = planner_agent(objective, epsilon=float(eps[0]) if eps else 0.0)
    res = identify(pool, agent, seed=args.seed, budget=args.budget, chooser=args.chooser)
    for name, p in sorted(zip(res.names, res.posterior, strict=True), key=lambda x: -x[1]):
        print(f"{name:40s} {p:.3f}")
    print(f"best: {res.best} ({res.posterior.max():.3f}) after {res.episodes} episodes")
    for g in res.indistinguishable:
        print("not identifiable within this pool:", ", ".join(g))
    if args.out:
        levels = {lv.name: ["".join(map(chr, row)) for row in lv.codes] for lv in pool}
        used = [dict(h, level_ascii=levels[h["level"]]) for h in res.history]
        doc = {
            "posterior": dict(zip(res.names, map(float, res.posterior), strict=True)),
            "history": used,
            "indistinguishable": res.indistinguishable,
        }
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
    return 0
