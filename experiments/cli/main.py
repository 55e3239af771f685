"""The `mesaworld` command: the front door to the toolkit.

    mesaworld list                          registered environments, objectives, knobs, legends
    mesaworld play roomba --split deploy    play a level from the terminal (keys or an action string)
    mesaworld demo [task]                   the main demo: train PPO, evaluate across the shift, plot
    mesaworld demo mesa-optimizer           the planning agent: its learned objective, read
    mesaworld train roomba --seed 3         train from a preset (fields as --options), a run folder
    mesaworld eval runs/<run>               re-evaluate a saved run on train and deploy levels
    mesaworld plot runs/                    every figure and the summary table for runs under runs/
    mesaworld analyze runs/                 the reward-result gap: IRL, gap in returns, attribution
    mesaworld readout runs/                 a planning agent's learned objective (its reward map)
    mesaworld probe thinking-time runs/<r>  more planning at test time: does competence grow?
    mesaworld baselines roomba              scripted planner and random-agent run folders
    mesaworld sweep roomba --knob 0,0.25    a resumable (knob x seed) grid on local processes

Errors (bad id, bad value, malformed level) print one line `mesaworld: error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import sys

import gymnasium as gym
import torch

from mesaworld.envs.generators import SPLITS
from mesaworld.envs.level import Level, LevelError
from mesaworld.envs.registry import TASKS, canonical, env_id, env_ids, spec_rows
from mesaworld.envs.task import ACTIONS, parse_actions
from mesaworld.experiments.cli import (
    audit_cmd,
    commands,
    grid_cmd,
    identify_cmd,
    readout_cmd,
    zoo_cmd,
)
from mesaworld.experiments.training.config import presets
from mesaworld.experiments.training.sweep import SweepError


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def resolve_env_id(name: str) -> str:
    """A task name ('cheese-maze', also 'cheese_maze' or 'CheeseMaze') or a registered id
    ('mesaworld/CheeseMaze-Deploy-v0') -> a registered id."""
    if name in gym.registry:
        return name
    if canonical(name) in TASKS:
        return env_id(canonical(name))
    known = ", ".join(TASKS) + " or one of: " + ", ".join(env_ids())
    raise CliError(f"unknown environment {name!r}; use a task name ({known})")


def _fmt(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in values.items())


# --- list ------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    for name, spec in TASKS.items():
        print(f"{name}: {', '.join(env_ids(name))}")
        # What SPEC declares: the same rows as the generated part of the task's docstrings.
        for heading, lines in spec_rows(spec):
            if heading == "Registered ids":  # printed above
                continue
            if len(lines) == 1:
                print(f"  {heading.lower()}: {lines[0]}")
            else:
                print(f"  {heading.lower()}:", *(f"    {line}" for line in lines), sep="\n")
        print(f"  train:  {spec.shift.train}")
        print(f"  deploy: {spec.shift.deploy}")
        print("  legend: " + "  ".join(f"{k!r} {v}" for k, v in spec.task_cls.legend.items()))
    return 0


# --- play ------------------------------------------------------------------------------------
def _make_play_env(args: argparse.Namespace) -> gym.Env:
    # Task and split come from the id's spec; --split overrides only when given.
    spec = gym.spec(resolve_env_id(args.env))
    kwargs: dict = {"task": spec.kwargs["task"], "render_mode": "ansi"}
    if args.max_steps is not None:
        kwargs["max_steps"] = args.max_steps
    if args.level:
        for flag, value in (("--knob", args.knob), ("--split", args.split)):
            if value is not None:
                raise CliError(
                    f"{flag} chooses a level distribution; it has no meaning with --level"
                )
        kwargs["levels"] = [Level.from_file(args.level)]
    else:
        kwargs["split"] = args.split or spec.kwargs.get("split", "train")
        if args.knob is not None:
            kwargs["knob"] = args.knob
    return gym.make(env_id(kwargs.pop("task")), **kwargs)


def cmd_play(args: argparse.Namespace) -> int:
    env = _make_play_env(args)
    env.reset(seed=args.seed)
    print(env.render(), end="")
    totals: dict[str, float] = {}
    scripted = args.actions is not None
    interactive = not scripted and sys.stdin.isatty()
    lines = [args.actions] if scripted else _input_lines(interactive)
    step = 0
    for line in lines:
        if line.strip().lower() in ("q", "quit", "exit"):
            break
        try:
            actions = parse_actions(line)
        except ValueError as e:
            if not interactive:  # a script or a pipe: a typo is an error
                raise
            print(f"{e}; the line was not played, type it again")
            continue
        for a in actions:
            _, _, term, trunc, info = env.step(a)
            step += 1
            for k, v in info["objectives"].items():
                totals[k] = totals.get(k, 0.0) + v
            print(f"step {step} {ACTIONS[a]}: {_fmt(info['objectives'])} | total {_fmt(totals)}")
            print(env.render(), end="")
            if term or trunc:
                print("episode " + ("terminated" if term else "truncated") + f" after {step} steps")
                print(f"returns: {_fmt(info['episode_objectives'])}")
                return 0
    return 0


def _input_lines(interactive: bool):
    """Lines typed by the user (or piped in); prompt only on a terminal."""
    if interactive:
        print("type actions (u r d l, . to stay; several per line), Enter to run, q to quit")
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            return
        yield line


# --- entry point -------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`mesaworld: error: ...`, exit 2), like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"mesaworld: error: {message} (see: {self.prog} --help)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; `mesaworld train <preset> --help` shows that preset's values as defaults."""
    p = _Parser(prog="mesaworld", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="registered environments, objectives, knobs and legends")

    play = sub.add_parser("play", help="play a level from the terminal")
    play.add_argument(
        "env", nargs="?", default=next(iter(TASKS)), help="task name or registered id"
    )
    play.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="level distribution (default: the id's, else train)",
    )
    play.add_argument("--knob", type=float, default=None, help="the shift's knob (train split)")
    play.add_argument("--seed", type=int, default=0, help="level seed")
    play.add_argument("--level", default=None, help="play this ASCII level file instead")
    play.add_argument("--actions", default=None, help="action string, e.g. 'rrdd.l' (else stdin)")
    play.add_argument("--max-steps", type=int, default=None, help="horizon (default: the task's)")

    commands.add_demo_parser(sub)
    commands.add_train_parser(sub, _named_preset(argv))
    commands.add_eval_parser(sub)
    commands.add_plot_parser(sub)
    commands.add_analyze_parser(sub)
    readout_cmd.add_readout_parser(sub)
    readout_cmd.add_probe_parser(sub)
    grid_cmd.add_baselines_parser(sub)
    grid_cmd.add_sweep_parser(sub)
    grid_cmd.add_publish_parser(sub)
    identify_cmd.add_identify_parser(sub)
    zoo_cmd.add_zoo_parser(sub)
    audit_cmd.add_verdicts_parser(sub)
    audit_cmd.add_audit_parser(sub)
    return p


COMMANDS = {
    "list": cmd_list,
    "play": cmd_play,
    "demo": readout_cmd.cmd_demo,
    "train": commands.cmd_train,
    "eval": commands.cmd_eval,
    "plot": commands.cmd_plot,
    "analyze": commands.cmd_analyze,
    "readout": readout_cmd.cmd_readout,
    "probe": readout_cmd.cmd_probe,
    "baselines": grid_cmd.cmd_baselines,
    "sweep": grid_cmd.cmd_sweep,
    "publish": grid_cmd.cmd_publish,
    "identify": identify_cmd.cmd_identify,
    "zoo": zoo_cmd.cmd_zoo,
    "verdicts": audit_cmd.cmd_verdicts,
    "audit": audit_cmd.cmd_audit,
}


def _named_preset(argv: list[str] | None):
    """The preset after `train` on the command line, if it is one (for --help's defaults)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "train":
        return None
    known = presets()
    return next((known[a] for a in argv[1:] if a in known), None)


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    # One torch thread for evaluation, probes and readouts, as for training (`--torch-threads`):
    # a second thread is up to ~10x slower as soon as anything else uses a core.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return COMMANDS[args.command](args)
    except (CliError, LevelError, SweepError, ValueError, TypeError, OSError, gym.error.Error) as e:
        print(f"mesaworld: error: {e}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)  # main() is also called in-process (tests, notebooks)


if __name__ == "__main__":
    sys.exit(main())
