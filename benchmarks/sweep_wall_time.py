"""Wall time of the cheese-maze corner-size sweep: 5 sizes x 3 seeds of the `cheese-maze` preset
(2M steps each) on local worker processes, baselines and figures included (issue 4's target:
under 20 minutes on 2 cores).

    python benchmarks/sweep_wall_time.py                 # the full grid, in a temp folder
    python benchmarks/sweep_wall_time.py --total-steps 2e5 --out /tmp/quick   # a quick look

Prints the wall time, the time per run and env-steps per second over the whole grid. Run it on
an otherwise idle machine: concurrent work slows every run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mesaworld.analysis.figures import plot_all
from mesaworld.experiments.training.config import parse_value
from mesaworld.experiments.training.sweep import run_sweep, sweep_configs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--knob", default="1,3,5,7,9", help="corner sizes")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--total-steps", default=None, help="override the preset's 2M steps")
    p.add_argument("--out", default=None, help="sweep folder (default: a fresh temp folder)")
    args = p.parse_args()
    knobs = [parse_value("--knob", "float", k) for k in args.knob.split(",")]
    overrides = {}
    if args.total_steps is not None:
        overrides["total_steps"] = parse_value("--total-steps", "int", args.total_steps)
    configs = sweep_configs("cheese-maze", knobs, args.seeds, args.workers, **overrides)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mw-sweep-bench-"))
    start = time.perf_counter()
    run_sweep(configs, out, workers=args.workers, quiet=True)

    plot_all(out, quiet=True)
    wall = time.perf_counter() - start
    steps = sum(c.num_updates * c.batch_size for c in configs)
    print(f"cheese-maze sweep: {len(knobs)} sizes x {args.seeds} seeds = {len(configs)} runs")
    print(f"  {configs[0].total_steps:,} steps each, {args.workers} workers, folder {out}")
    print(f"  wall time {wall / 60:.1f} min ({wall:.0f} s; target < 20 min for 5 x 3 at 2M)")
    print(f"  {wall / len(configs):.0f} s per run, {steps / wall:,.0f} env-steps/s over the grid")


if __name__ == "__main__":
    main()
