"""The `mesaworld` command: the front door to the toolkit.

    mesaworld list                          registered environments, objectives, knobs, legends
    mesaworld play roomba --split deploy    play a level from the terminal (keys or an action string)
    mesaworld demo                          the main demo (today: aligned vs proxy planners on the
                                            Roomba shift; becomes the training demo with PPO)

Errors (bad id, bad value, malformed level) print one line `mesaworld: error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from envs.engine import parse_actions
from envs.level import Level, LevelError
from envs.registry import NAMESPACE, TASKS


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def resolve_env_id(name: str) -> str:
    """'roomba' / 'Roomba' / 'mesaworld/Roomba-Deploy-v0' -> a registered id."""
    if name in gym.registry:
        return name
    key = name.lower()
    if key in TASKS:
        return f"{NAMESPACE}/{TASKS[key].id_name}-v0"
    known = ", ".join(sorted(TASKS)) + " or one of: " + ", ".join(envs.env_ids())
    raise CliError(f"unknown environment {name!r}; use a task name ({known})")


def _fmt(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in values.items())


# --- list ------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    for name, spec in TASKS.items():
        print(f"{name}: {', '.join(envs.env_ids(name))}")
        print(f"  objectives: {', '.join(spec.task_cls.objectives)} (base = reward)")
        print(
            f"  knob: {spec.shift.knob_name} = {spec.shift.knob_default:g}  ({spec.shift.knob_doc})"
        )
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
        kwargs["levels"] = [Level.from_file(args.level)]
    else:
        kwargs["split"] = args.split or spec.kwargs.get("split", "train")
        if args.knob is not None:
            kwargs["knob"] = args.knob
    return gym.make(f"{NAMESPACE}/{TASKS[kwargs.pop('task')].id_name}-v0", **kwargs)


def cmd_play(args: argparse.Namespace) -> int:
    env = _make_play_env(args)
    env.reset(seed=args.seed)
    print(env.render(), end="")
    totals: dict[str, float] = {}
    scripted = args.actions is not None
    lines = [args.actions] if scripted else _input_lines()
    step = 0
    for line in lines:
        if line.strip().lower() in ("q", "quit", "exit"):
            break
        for a in parse_actions(line):
            _, _, term, trunc, info = env.step(a)
            step += 1
            for k, v in info["objectives"].items():
                totals[k] = totals.get(k, 0.0) + v
            print(
                f"step {step} {envs.ACTIONS[a]}: {_fmt(info['objectives'])} | total {_fmt(totals)}"
            )
            print(env.render(), end="")
            if term or trunc:
                print("episode " + ("terminated" if term else "truncated") + f" after {step} steps")
                print(f"returns: {_fmt(info['episode_objectives'])}")
                return 0
    return 0


def _input_lines():
    """Lines typed by the user (or piped in); prompt only on a terminal."""
    interactive = sys.stdin.isatty()
    if interactive:
        print("type actions (u r d l, . to stay; several per line), Enter to run, q to quit")
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            return
        yield line


# --- demo ------------------------------------------------------------------------------------
def run_planner(env: gym.Env, planner, seed: int) -> tuple[dict, list[np.ndarray], str]:
    """One episode of a scripted planner. Returns (episode totals, rgb frames, final ansi)."""
    obs, _ = env.reset(seed=seed)
    frames = [env.unwrapped.render_env(0, "rgb_array")]
    while True:
        obs, _, term, trunc, info = env.step(planner.act(obs))
        frames.append(env.unwrapped.render_env(0, "rgb_array"))
        if term or trunc:
            totals = dict(info["episode_objectives"], **info["episode_measures"])
            totals["length"] = info["episode_length"]
            return totals, frames, env.unwrapped.render_env(0, "ansi")


def cmd_demo(args: argparse.Namespace) -> int:
    from agents.planners import roomba_planners
    from envs.render import save_gif

    if args.task != "roomba":
        raise CliError(f"the demo covers roomba today, got {args.task!r}")
    if args.episodes < 1:
        raise CliError(f"--episodes must be at least 1, got {args.episodes}")
    out = Path(args.out)
    print("mesaworld demo: the Roomba shift, before any training.")
    print(
        "Two scripted planners bracket every agent: 'nearest floor dust' pursues the base objective"
    )
    print(
        "(floor cleanliness); 'nearest visible dust' pursues the proxy (whatever the dust sensor sees)."
    )
    print(
        f"Each runs {args.episodes} episodes per split (seeds {args.seed}..{args.seed + args.episodes - 1}).\n"
    )
    rows = []
    examples: dict[str, tuple[list, str]] = {}
    for split in ("train", "deploy"):
        env = gym.make("mesaworld/Roomba-v0", split=split)
        planners = roomba_planners(env.unwrapped.engine.task.obs_channels)
        for pname, planner in planners.items():
            eps = []
            for k in range(args.episodes):
                env.reset(seed=args.seed + k)
                initial = env.unwrapped.engine.state.floor_left[0]
                totals, frames, final = run_planner(env, planner, args.seed + k)
                totals["floor_cleaned"] = totals["base"] / initial
                eps.append(totals)
                if split == "deploy" and k == 0:
                    examples[pname] = (frames, final)
            mean = {key: float(np.mean([e[key] for e in eps])) for key in eps[0]}
            rows.append((split, pname, mean))
    if not args.quiet:
        env = gym.make("mesaworld/Roomba-v0", split="deploy", render_mode="ansi")
        env.reset(seed=args.seed)
        print(
            "A deploy level ('*' floor dust, 'c' dust can: the sensor sees dust, the floor gains nothing):"
        )
        print(env.render())
        for pname, (_, final) in examples.items():
            print(f"... after '{pname}':")
            print(final)
    header = f"{'split':7} {'planner':22} {'floor cleaned':>13} {'dust collected':>14} {'cans emptied':>12} {'steps':>6}"
    print(header)
    print("-" * len(header))
    for split, pname, m in rows:
        print(
            f"{split:7} {pname:22} {m['floor_cleaned']:13.1%} {m['dust_collected']:14.2f} "
            f"{m['cans_emptied']:12.2f} {m['length']:6.1f}"
        )
    out.mkdir(parents=True, exist_ok=True)
    for pname, (frames, _) in examples.items():
        path = save_gif(frames, out / f"roomba_deploy_{pname.replace(' ', '_')}.gif")
        print(f"wrote {path}")
    print(
        "\nOn train both planners agree. On deploy the proxy planner empties cans into its bin, which"
    )
    print("then has no room for floor dust: the base objective pays for pursuing the proxy.")
    return 0


# --- entry point -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mesaworld", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="registered environments, objectives, knobs and legends")

    play = sub.add_parser("play", help="play a level from the terminal")
    play.add_argument("env", nargs="?", default="roomba", help="task name or registered id")
    play.add_argument(
        "--split",
        choices=envs.SPLITS,
        default=None,
        help="level distribution (default: the id's, else train)",
    )
    play.add_argument("--knob", type=float, default=None, help="the shift's knob (train split)")
    play.add_argument("--seed", type=int, default=0, help="level seed")
    play.add_argument("--level", default=None, help="play this ASCII level file instead")
    play.add_argument("--actions", default=None, help="action string, e.g. 'rrdd.l' (else stdin)")
    play.add_argument("--max-steps", type=int, default=None, help="horizon (default: the task's)")

    demo = sub.add_parser("demo", help="the main demo")
    demo.add_argument("task", nargs="?", default="roomba", help="task (roomba)")
    demo.add_argument("--seed", type=int, default=0, help="first level seed")
    demo.add_argument("--episodes", type=int, default=100, help="episodes per split and planner")
    demo.add_argument("--out", default="figures", help="folder for the GIFs")
    demo.add_argument("--quiet", action="store_true", help="print only the summary table")
    return p


COMMANDS = {"list": cmd_list, "play": cmd_play, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, LevelError, ValueError, TypeError, gym.error.Error) as e:
        print(f"mesaworld: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
