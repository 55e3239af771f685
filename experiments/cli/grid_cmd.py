"""`mesaworld baselines` and `mesaworld sweep`: the commands that write many run folders at
once (a task's scripted and random baselines; a resumable grid of knob x seed training runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mesaworld.analysis.figures import plot_all
from mesaworld.analysis.runfolder import FIGURES
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.cli.commands import check_folder, preset_help, say_rounded
from mesaworld.experiments.training.baselines import write_baselines
from mesaworld.experiments.training.config import ConfigError, TrainConfig, parse_value, preset
from mesaworld.experiments.training.evaluate import EvalSettings
from mesaworld.experiments.training.sweep import run_sweep, sweep_configs


def add_baselines_parser(sub) -> None:
    p = sub.add_parser("baselines", help="evaluate a task's scripted planners and a random agent")
    p.add_argument("task", help=f"task: {', '.join(TASKS)}")
    p.add_argument("--root", default="runs", help="where the baseline run folders go")
    p.add_argument("--levels", type=int, default=TrainConfig.eval_levels, help="levels per split")
    p.add_argument(
        "--eval-seed", type=int, default=TrainConfig.eval_seed, help="seed of the level sets"
    )


def cmd_baselines(args: argparse.Namespace) -> int:
    if args.levels < 1:
        raise ConfigError(f"--levels: must be at least 1, got {args.levels}")
    check_folder(Path(args.root), "--root", "folder")
    for folder in write_baselines(args.task, args.root, EvalSettings(args.eval_seed, args.levels)):
        print(folder)
    return 0


def add_sweep_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="train a (knob x seed) grid of runs, resumable; then the table and figures",
        description="Train every (knob, seed) run of a preset that is not finished yet under --out "
        "(run it again after an interruption: finished runs are kept, interrupted ones resume).",
    )
    p.add_argument("preset", help=f"named config: {preset_help()}")
    p.add_argument(
        "--knob", default=None, help="comma-separated knob values (default: the preset's)"
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per knob")
    p.add_argument(
        "--workers", type=int, default=2, help="local worker processes (torch threads are split)"
    )
    p.add_argument("--total-steps", default=None, help="override the preset's training budget")
    p.add_argument(
        "--torch-threads",
        default=None,
        help="torch threads per run (default: the preset's, 1)",
    )
    p.add_argument("--out", default=None, help="sweep folder (default: runs/sweep_<preset>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines, no table")
    p.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local worker processes, or Ray tasks (the optional `ray` extra)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="with --backend ray: an existing cluster (default: a private local instance "
        "whose files stay in <out>/.ray)",
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    base = preset(args.preset)
    knobs = (
        [base.train_knob]
        if args.knob is None
        else [parse_value("--knob", "float", k.strip()) for k in args.knob.split(",")]
    )
    overrides = {}
    if args.total_steps is not None:
        overrides["total_steps"] = parse_value("--total-steps", "int", args.total_steps)
    if args.torch_threads is not None:
        overrides["torch_threads"] = parse_value("--torch-threads", "int", args.torch_threads)
    configs = sweep_configs(args.preset, knobs, args.seeds, args.workers, **overrides)
    root = Path(args.out or f"runs/sweep_{args.preset}")
    check_folder(root, "--out" if args.out else "", "sweep folder")
    say_rounded(args.total_steps, configs[0])
    run_sweep(
        configs,
        root,
        workers=args.workers,
        quiet=args.quiet,
        backend=args.backend,
        address=args.address,
    )
    if not args.quiet:
        plot_all(root, quiet=False)
        print(f"figures in {root / FIGURES}")
    return 0


def add_publish_parser(sub) -> None:
    p = sub.add_parser(
        "publish",
        help="a small copy of a folder of finished runs for committing (no weights, no caches)",
        description="Copy what analysis reads from every finished run under SRC (config, "
        "episodes, evaluation arrays, train log, probe tables) and the analysis/ and readout/ "
        "tables into a new folder DEST, whole or not at all (`mesaworld.analysis.publish`).",
    )
    p.add_argument("src", help="a folder of finished run folders (a sweep, a calibration)")
    p.add_argument("dest", help="a new folder, e.g. docs/results/sweeps/<name>")


def cmd_publish(args: argparse.Namespace) -> int:
    from mesaworld.analysis.publish import publish

    got = publish(args.src, args.dest)
    print(
        f"published {got['runs']} runs ({got['files']} files, {got['bytes'] / 1e6:.1f} MB) to "
        f"{args.dest}; left out {got['left'] / 1e6:.1f} MB (weights, training state, figures, "
        "locks, caches)"
    )
    return 0
