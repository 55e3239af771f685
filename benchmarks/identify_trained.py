"""Adaptive identification on trained agent folders: adaptive vs random vs deploy choosers.

    python benchmarks/identify_trained.py --seeds 3 --csv docs/results/identify_cheese_maze_planners.csv \
        docs/results/sweeps/cheese-maze-planner/cheese-maze-planner_knob1_seed* \
        docs/results/sweeps/cheese-maze-planner-coords/cheese-maze-planner-coords_knob1_seed*

One row per (agent, chooser, seed): the verdict, its probability, episodes used (to posterior >=
0.95, or the budget), seconds. Prints a markdown summary per (sweep, chooser). One torch thread.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
from pathlib import Path

from mesaworld.analysis.storage import atomic_write_text
from mesaworld.experiments.instruments.identify_trained import summary_table, verdict

CHOOSERS = ("adaptive", "random", "deploy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--pool", default="full")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    rows = []
    for folder in args.folders:
        for chooser in CHOOSERS:
            for seed in range(args.seeds):
                v = verdict(folder, seed, chooser, args.pool, args.levels, args.budget)
                rows.append(
                    {
                        "agent": v["agent"],
                        "sweep": re.sub(r"_knob.*", "", v["agent"]),
                        "chooser": chooser,
                        "seed": seed,
                        "pool": v["pool"],
                        "pool_levels": v["pool_levels"],
                        "verdict": v["verdict"],
                        "objective": v["objective"],
                        "map": max(v["posterior"], key=v["posterior"].get),
                        "probability": round(v["probability"], 4),
                        "episodes": v["episodes"],
                        "reached": v["probability"] >= v["threshold"],
                        "seconds": v["seconds"],
                    }
                )
                print(*rows[-1].values(), sep="\t", flush=True)
    if args.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(Path(args.csv), buf.getvalue())
    print()
    print(summary_table(rows))


if __name__ == "__main__":
    main()
