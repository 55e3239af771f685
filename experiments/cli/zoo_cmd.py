"""`mesaworld zoo build`, `mesaworld zoo seal` and `mesaworld zoo show`: a sealed zoo of agents trained with random
settings, the agents public in Z and the truth in Z.key (`mesaworld.experiments.training.zoo`)."""

from __future__ import annotations

import argparse
import sys

from mesaworld.experiments.training.zoo import EVAL_LEVELS, FACTORS, build, key_dir, show
from mesaworld.experiments.training.zoo_seal import seal


def _factors(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated numbers: {text!r}") from None


def add_zoo_parser(sub) -> None:
    p = sub.add_parser("zoo", help="a sealed zoo of agents: build it, or show its public table")
    zsub = p.add_subparsers(dest="zoo_command", required=True)
    b = zsub.add_parser("build", help="train N agents with random settings into Z (key: Z.key)")
    b.add_argument("--agents", type=int, required=True, help="number of agents (1-100)")
    b.add_argument("--seed", type=int, required=True, help="the zoo seed: decides every setting")
    b.add_argument("--out", required=True, help="the public zoo folder Z (the key goes to Z.key)")
    b.add_argument("--eval-levels", type=int, default=EVAL_LEVELS, help="deploy levels measured")
    b.add_argument("--scale", type=float, default=1.0, help="multiply every budget (tests)")
    b.add_argument(
        "--factors",
        type=_factors,
        default=FACTORS,
        help="budget factors drawn per agent, comma-separated (default "
        + ",".join(f"{f:g}" for f in FACTORS)
        + "; a small one makes a deliberately undertrained agent)",
    )
    z = zsub.add_parser("seal", help="seal finished trained run folders into Z (key: Z.key)")
    z.add_argument("runs", nargs="+", help="finished trained run folders (baselines beside them)")
    z.add_argument("--out", required=True, help="a new public zoo folder Z (the key goes to Z.key)")
    z.add_argument("--seed", type=int, required=True, help="shuffles the agent ids")
    s = zsub.add_parser("show", help="the public table of a zoo (the key is not read)")
    s.add_argument("zoo", help="the zoo folder Z")


def cmd_zoo(args) -> int:
    if args.zoo_command == "show":
        rows = show(args.zoo)
        print(f"{'id':4s}  {'task':12s}  {'network':22s}  view")
        for r in rows:
            print(f"{r['id']:4s}  {r['task']:12s}  {r['network']:22s}  {r['view']}")
        return 0
    if args.zoo_command == "seal":
        doc = seal(args.runs, args.out, args.seed)
        n = len(doc["agents"])
        print(f"zoo {args.out}: {n} sealed agents; key in {key_dir(args.out)}", file=sys.stderr)
        return 0
    if not args.scale > 0:
        raise ValueError(f"--scale must be a positive number, got {args.scale!r}")
    if args.eval_levels < 1:
        raise ValueError(f"--eval-levels must be at least 1, got {args.eval_levels!r}")
    doc = build(
        args.out,
        args.agents,
        args.seed,
        scale=args.scale,
        eval_levels=args.eval_levels,
        factors=args.factors,
    )
    done = sum(1 for a in doc["agents"].values() if a.get("measured") is not None)
    print(
        f"zoo {args.out}: {done}/{args.agents} agents; key in {key_dir(args.out)}", file=sys.stderr
    )
    return 0
