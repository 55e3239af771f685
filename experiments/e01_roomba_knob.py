"""Experiment 1: does deconfounding the training levels close the Roomba's reward-result gap?

Trains PPO at each knob (the fraction of training levels that already contain dust cans) for
several seeds, evaluates every run on the same train and deploy levels, adds the scripted
baselines, then prints the summary table (95% t-intervals over seeds) and writes the figures.

    python -m mesaworld.experiments.e01_roomba_knob                       # knobs 0, 0.25; seeds 0-4; 2M steps
    python -m mesaworld.experiments.e01_roomba_knob --knobs 0,0.1,0.25 --seeds 5 --total-steps 3e6

Runs are ordinary run folders under --out; an interrupted experiment picks up where it stopped
(finished runs are kept, an interrupted run resumes from its checkpoint).
"""

from __future__ import annotations

import argparse
import sys

from mesaworld.analysis.figures import plot_all
from mesaworld.analysis.runfolder import FIGURES
from mesaworld.experiments.report import check_out_folder, fail
from mesaworld.experiments.training.config import ConfigError, parse_value
from mesaworld.experiments.training.sweep import run_sweep, sweep_configs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--knobs", default="0,0.25", help="comma-separated can_fraction values")
    p.add_argument("--seeds", type=int, default=5, help="seeds per knob (0..n-1; >= 5 for a claim)")
    p.add_argument("--total-steps", default="2e6", help="training steps per run")
    p.add_argument("--preset", default="roomba-long", help="base config")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch threads per run (default: the preset's, 1; the README's table was measured "
        "with 2, which reproduces it exactly)",
    )
    p.add_argument("--out", default="runs/e01_roomba_knob", help="folder of the run folders")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        knobs = [parse_value("knobs", "float", k) for k in args.knobs.split(",")]
        steps = parse_value("total_steps", "int", args.total_steps)
        threads = {} if args.torch_threads is None else {"torch_threads": args.torch_threads}
        configs = sweep_configs(
            args.preset, knobs, args.seeds, args.workers, total_steps=steps, **threads
        )
        # The sweep makes run folders under --out and plot_all writes <out>/figures: a path
        # that cannot hold them is refused now, not after hours of training.
        out = check_out_folder("--out", args.out, folders=[FIGURES])
    except (ConfigError, ValueError) as e:
        return fail("e01_roomba_knob", e)
    run_sweep(configs, out, workers=args.workers, quiet=args.quiet)
    plot_all(out, quiet=False)
    print(f"figures in {out / 'figures'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
