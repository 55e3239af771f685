"""The experiment commands of `mesaworld`: train, eval, plot, analyze, baselines, sweep, demo.

mesaworld train roomba --seed 3 --total-steps 2e6 --knob 0.1   a run folder under runs/
mesaworld eval runs/<run>                                      re-evaluate a saved run
mesaworld plot runs/                                           every figure + summary table
mesaworld baselines roomba                                     planner + random run folders
mesaworld demo [task]                                          train, evaluate, plot
Every task name and preset comes from the task registry (`mesaworld.envs.registry.TASKS`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mesaworld.analysis.behavioral import BehaviorSettings, analyze
from mesaworld.analysis.figures import plot_all
from mesaworld.analysis.metrics import format_table, gap_table, run_summary
from mesaworld.analysis.runfolder import (
    EPISODES,
    FIGURES,
    folder_problem,
    has_content,
    is_finished,
)
from mesaworld.analysis.runs import load_runs, unfinished_runs
from mesaworld.envs.registry import TASKS, get_task
from mesaworld.experiments.training.baselines import write_baselines
from mesaworld.experiments.training.config import (
    ConfigError,
    TrainConfig,
    cli_fields,
    parse_value,
    preset,
    presets,
)
from mesaworld.experiments.training.evaluate import EvalSettings, evaluate_run
from mesaworld.experiments.training.trainer import train


def preset_help() -> str:
    return ", ".join(presets())


def add_config_fields(p: argparse.ArgumentParser, shown: TrainConfig | None) -> None:
    """--<field> options for every config field; `shown` (the preset named on the command line,
    if any) supplies the defaults printed by --help."""
    group = p.add_argument_group(
        f"config fields (override the preset{'' if shown is None else ' ' + shown.preset})"
    )
    for name, annotation, doc in cli_fields():
        default = getattr(shown, name) if shown is not None else "the preset's"
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"cfg_{name}",
            default=None,
            metavar=annotation.split(" ")[0].upper(),
            help=f"{doc} [{annotation}; default {default!r}]".replace("%", "%%"),
        )


def add_train_parser(sub, shown: TrainConfig | None = None) -> None:
    p = sub.add_parser(
        "train",
        help="train PPO from a preset; writes a run folder",
        description="Train PPO on a task's train split, then evaluate on train and deploy levels.",
    )
    p.add_argument("preset", help=f"named config: {preset_help()}")
    p.add_argument(
        "--out", default=None, help="run folder (default: <root>/<preset>_knob<k>_seed<s>)"
    )
    p.add_argument("--root", default="runs", help="where default run folders go")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_config_fields(p, shown)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset with every given --field parsed and applied (ConfigError names a bad one)."""
    overrides = {}
    for name, annotation, _ in cli_fields():
        text = getattr(args, f"cfg_{name}")
        if text is not None:
            try:
                overrides[name] = parse_value(name, annotation, text)
            except ConfigError as e:
                raise ConfigError(
                    f"--{name.replace('_', '-')}: {str(e).split(': ', 1)[1]}"
                ) from None
    try:
        return preset(args.preset, **overrides)
    except ConfigError as e:
        field, _, rest = str(e).partition(": ")
        if field in overrides:
            raise ConfigError(f"--{field.replace('_', '-')}: {rest}") from None
        raise


def cmd_train(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    cfg.require_memory()
    run_dir = Path(args.out) if args.out else cfg.default_run_dir(args.root)
    if not args.out:
        check_folder(Path(args.root), "--root", "folder")
    check_folder(run_dir, "--out" if args.out else "", "run folder")
    if args.resume or not has_content(run_dir):  # (else train refuses it: one line, no note)
        say_rounded(args.cfg_total_steps, cfg)
    if not args.quiet:
        print(
            f"training {cfg.preset} (knob {cfg.train_knob:g}, seed {cfg.seed}, "
            f"{cfg.total_steps:,} steps) -> {run_dir}"
        )
    start = time.perf_counter()
    train(cfg, run_dir, resume=args.resume, quiet=args.quiet)
    if not args.quiet:
        print(f"done in {time.perf_counter() - start:.0f} s")
        _print_run_table(run_dir)
    return 0


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="re-evaluate a saved run on train and deploy levels")
    p.add_argument("run", help="a run folder (written by `mesaworld train`)")
    p.add_argument("--levels", type=int, default=None, help="levels per split (default: the run's)")
    p.add_argument(
        "--eval-seed", type=int, default=None, help="seed of the level sets (default: the run's)"
    )
    p.add_argument(
        "--greedy", action="store_true", default=None, help="argmax actions instead of sampling"
    )
    p.add_argument("--quiet", action="store_true", help="no table")


def cmd_eval(args: argparse.Namespace) -> int:
    if args.levels is not None and args.levels < 1:
        raise ConfigError(f"--levels: must be at least 1, got {args.levels}")
    run = Path(args.run)
    check_folder(run, "", "run folder")
    if not run.is_dir():
        raise ConfigError(f"no such run folder: {run}")
    evaluate_run(run, levels=args.levels, eval_seed=args.eval_seed, greedy=args.greedy)
    if not args.quiet:
        print(f"wrote {run / EPISODES}")
        _print_run_table(run)
    return 0


def add_plot_parser(sub) -> None:
    p = sub.add_parser("plot", help="every figure for every run folder under a folder")
    p.add_argument("root", nargs="?", default="runs", help="folder of run folders (default: runs)")
    p.add_argument("--quiet", action="store_true", help="no table, no file list")


def cmd_plot(args: argparse.Namespace) -> int:
    written = plot_all(args.root, quiet=args.quiet)
    if not args.quiet:
        for run in unfinished_runs(args.root):
            print(f"(left out, not finished: {run})")
        figure = Path(args.root) / FIGURES / "reward_result_gap.png"
        print(f"wrote {len(written)} files, e.g. {figure}")
    return 0


def add_analyze_parser(sub) -> None:
    d = BehaviorSettings()
    p = sub.add_parser(
        "analyze",
        help="the reward-result gap: IRL on deploy behaviour, the gap in returns, attribution",
        description=(
            "Recover the reward each run's deploy behaviour optimizes (MCE IRL on the exact "
            "tabular export of its evaluation levels), score that reward's own policy under "
            "every objective (the reward-result gap in returns), test which objectives explain "
            "held-out actions on deploy and train levels, check competence on train, and label "
            "each run and each (task, agent, knob) cell. Writes <path>/analysis/."
        ),
    )
    p.add_argument("path", help="a run folder, or a folder of run folders (e.g. a sweep)")
    p.add_argument("--levels", type=int, default=d.levels, help="evaluation levels to use")
    p.add_argument(
        "--max-states", type=int, default=d.max_states, help="state budget of the export"
    )
    p.add_argument("--split", default=d.split, choices=("train", "deploy"))
    p.add_argument("--per-state", action="store_true", help="also fit a reward per state")
    p.add_argument(
        "--no-train",
        action="store_true",
        help="skip the train levels (attribution there, competence): faster, no label claim",
    )
    p.add_argument("--out", default=None, help="output folder (default: <path>/analysis)")
    p.add_argument("--quiet", action="store_true", help="no progress lines, no table")


def cmd_analyze(args: argparse.Namespace) -> int:
    try:
        settings = BehaviorSettings(
            split=args.split,
            levels=args.levels,
            max_states=args.max_states,
            per_state=args.per_state,
            train=not args.no_train,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    _, _, written = analyze(
        args.path, settings, None if args.out is None else Path(args.out), quiet=args.quiet
    )
    if not args.quiet:
        print(f"wrote {len(written)} files, e.g. {written[-1]}")
    return 0


def check_folder(path: Path, flag: str, noun: str) -> None:
    """Refuse, before any work, a folder argument that is a file, a broken link or a link loop
    (or lies below one): one line naming the argument and the problem."""
    problem = folder_problem(path, f"{flag} {path}" if flag else None, noun)
    if problem is not None:
        raise ConfigError(problem)


def say_rounded(requested: str | None, cfg: TrainConfig) -> None:
    """A --total-steps that is not whole updates trains fewer steps (the config rounds it down):
    one line on stderr saying what trains instead."""
    if requested is None:
        return
    steps = parse_value("total_steps", "int", requested)
    if steps != cfg.total_steps:
        print(
            f"mesaworld: training {cfg.total_steps:,} steps: {cfg.num_updates:,} updates of "
            f"{cfg.batch_size:,}; --total-steps {steps} is not a whole number of updates",
            file=sys.stderr,
        )


def _print_run_table(run: Path) -> None:
    print(format_table(gap_table(run_summary(load_runs(run)), root=str(run.parent))))


# --- demo ------------------------------------------------------------------------------------
def add_demo_parser(sub) -> None:
    first = next(iter(TASKS))
    p = sub.add_parser("demo", help="the main demo: train, evaluate across the shift, plot")
    p.add_argument(
        "task",
        nargs="?",
        default=first,
        help=f"task: {', '.join(TASKS)}; or mesa-optimizer (the planning agent on the Roomba)",
    )
    p.add_argument("--seed", type=int, default=0, help="the training seed")
    p.add_argument(
        "--knobs",
        default=None,
        help="train one agent per knob value, e.g. 0,0.25 (default: the task's default knob)",
    )
    p.add_argument("--out", default="runs/demo", help="folder for the run folders and figures")
    p.add_argument(
        "--total-steps", default=None, help="training budget per agent (default: the demo preset's)"
    )
    p.add_argument(
        "--torch-threads", default=None, help="torch threads (default 1: fast beside other work)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar; print the table only")


def cmd_demo(args: argparse.Namespace, preset_name: str | None = None) -> int:
    """The demo of a task with its demo preset (or `preset_name`, one of the task's)."""
    spec = get_task(args.task)
    demo_preset = preset_name or spec.demo_preset
    start = time.perf_counter()
    out = Path(args.out)
    check_folder(out, "--out", "folder")
    overrides = {"seed": args.seed}
    if args.total_steps is not None:
        overrides["total_steps"] = parse_value("--total-steps", "int", args.total_steps)
    if args.torch_threads is not None:
        overrides["torch_threads"] = parse_value("--torch-threads", "int", args.torch_threads)
    base = preset(demo_preset, **overrides)
    say_rounded(args.total_steps, base)
    knobs = [base.train_knob] if args.knobs is None else args.knobs.split(",")
    configs = [preset(demo_preset, knob=parse_value("--knobs", "float", str(k)), **overrides)
               for k in knobs]  # fmt: skip
    say = (lambda *a: None) if args.quiet else print
    say(f"mesaworld demo ({spec.name}): {spec.about}\n")
    say(
        f"1/3 baselines: scripted aligned and proxy planners and a random agent on "
        f"{base.eval_levels} train + {base.eval_levels} deploy levels"
    )
    write_baselines(spec.name, out, EvalSettings(**_eval_kwargs(base)))
    knob_name = spec.shift.knob_name
    for i, c in enumerate(configs):
        say(
            f"2/3 training PPO {i + 1}/{len(configs)}: {knob_name} {c.train_knob:g}, "
            f"{c.total_steps:,} steps on train levels, seed {c.seed}"
        )
        run = c.default_run_dir(out)
        if is_finished(run):
            say(f"    reusing the finished run {run}")
        train(c, run, resume=True, quiet=args.quiet)
    say("3/3 analysis: summary over the evaluation levels (95% CIs need >= 2 seeds)\n")
    written = plot_all(out, quiet=False)
    figures = out / FIGURES
    print(f"\nfigures: {figures / 'reward_result_gap.png'} (the gap), learning_curves.png;")
    print(f"         {out}/<run>/{FIGURES}/ (deploy visitation heatmap, deploy_episode.gif)")
    say(f"({len(written)} files written; demo took {time.perf_counter() - start:.0f} s)")
    lo, hi = spec.shift.knob_range
    say(
        f"\nDoes deconfounding close the gap? Move the training knob ({knob_name}, "
        f"{lo:g} to {hi:g}: {spec.shift.knob_doc}) over several seeds:\n"
        f"    mesaworld sweep {spec.presets[0].name} --knob <values> --seeds 5"
    )
    return 0


def _eval_kwargs(cfg: TrainConfig) -> dict:
    return {"eval_seed": cfg.eval_seed, "levels": cfg.eval_levels, "greedy": cfg.eval_greedy}
