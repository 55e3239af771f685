"""`mesaworld readout` and `mesaworld probe`: read a planning agent's learned objective
(`mesaworld.experiments.instruments.readout`) and probe its optimization with any instrument of
the table (`mesaworld.experiments.instruments.registry`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mesaworld.analysis.readout_irl import (
    LABELLERS,
    agreement,
    label_sensitivity,
    readout_sensitivity,
    readout_vs_irl,
    run_labels,
)
from mesaworld.analysis.storage import atomic_write_text, exclusive
from mesaworld.experiments.cli import commands
from mesaworld.experiments.instruments.instrument import ProbeSettings
from mesaworld.experiments.instruments.readout import format_readout, readout
from mesaworld.experiments.instruments.readout_figures import reward_map_figure
from mesaworld.experiments.instruments.registry import INSTRUMENTS, measure, refusal, summary


def add_readout_parser(sub) -> None:
    p = sub.add_parser(
        "readout",
        help="a planning agent's mesa-objective: its reward map vs each objective",
        description=(
            "For every finished planner run (--network planner) under PATH: the learned reward "
            "map on the start observation of each train and deploy evaluation level, read "
            "against each objective's target cells (normalized: 1 = valued like the base "
            "objective's targets, 0 = like empty floor). Writes <path>/readout/readout.csv "
            "(a row per run), cells.csv (a row per knob, t-intervals over seeds) and "
            "reward_maps_<task>.png/pdf (levels beside the reward map, a row per knob)."
        ),
    )
    p.add_argument("path", help="a planner run folder, or a folder of run folders")
    p.add_argument("--levels", type=int, default=200, help="evaluation levels per split")
    p.add_argument("--quiet", action="store_true", help="no table")
    p.add_argument(
        "--labels",
        choices=LABELLERS,
        default="analyze",
        help="the one labeller the readout is compared with: analyze (IRL, needs `mesaworld "
        "analyze PATH` first) or plot (the agents' own scores)",
    )


def cmd_readout(args: argparse.Namespace) -> int:
    if args.levels < 1:
        raise ValueError("--levels: must be a positive integer")
    rows, cells = readout(args.path, args.levels)
    root = Path(args.path)
    out = root / "readout"
    with exclusive(out, "readout"):
        atomic_write_text(out / "cells.csv", cells.to_csv(index=False))
        atomic_write_text(out / "readout.csv", rows.to_csv(index=False))
        for task, g in rows.sort_values(["knob", "seed"]).groupby("task"):
            first = g.drop_duplicates(["knob", "reward"])  # each cell's first seed
            folders = [root / r if r != root.name else root for r in first["run"]]
            reward_map_figure(folders, out / f"reward_maps_{task}")
    if not args.quiet:
        print(format_readout(cells))
        print(f"wrote {out / 'readout.csv'} and {out / 'cells.csv'}")
    behavioral = root / "analysis" / "behavioral.csv"
    labeller = getattr(args, "labels", None)  # None (the demo): analyze's, if it ran, silently
    if labeller in (None, "analyze") and not behavioral.is_file():
        if labeller and not args.quiet:
            print(
                f"no {behavioral}: no comparison (run `mesaworld analyze {root}`, or --labels plot)"
            )
        return 0
    # the readout against ONE labeller's labels: an uncertain label is counted apart
    labeller = labeller or "analyze"
    table = readout_vs_irl(out / "readout.csv", run_labels(labeller, root))
    name = "readout_vs_irl.csv" if labeller == "analyze" else f"readout_vs_{labeller}.csv"
    with exclusive(out, "readout"):
        atomic_write_text(out / name, table.to_csv(index=False))
    if not args.quiet and len(table):
        print(f"\nthe readout vs the {labeller} labels of deploy behaviour, per run:")
        cols = ["run", "readout ratio", "readout says", "label", "flips", "agree"]
        print(table[cols].round(2).to_string(index=False))
        print(agreement(table).to_string(index=False))
        print()
        print(label_sensitivity(labeller, root, table))
        print(readout_sensitivity(table))
        print(f"wrote {out / name}")
    return 0


def add_probe_parser(sub) -> None:
    known = "; ".join(f"{name}: {inst.measures}" for name, inst in INSTRUMENTS.items())
    p = sub.add_parser(
        "probe",
        help=f"probes that tell an optimizer from a heuristic ({', '.join(INSTRUMENTS)})",
        description=(
            f"{known}. Instruments that play references also run a hand-coded optimizer and a "
            "memorised route (goals known by construction) on the same levels. Writes "
            "<run>/probes/<probe>.csv and <probe>.png/pdf."
        ),
    )
    p.add_argument("probe", choices=tuple(INSTRUMENTS))
    p.add_argument("run", help="a trained run folder")
    p.add_argument("--steps", default="1,2,4,10,20", help="thinking budgets, comma-separated")
    p.add_argument("--levels", type=int, default=100, help="evaluation levels (per split)")
    p.add_argument("--split", default="deploy", choices=("train", "deploy"),
                   help="which evaluation levels (instruments that play one split)")  # fmt: skip


def _budgets(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(k) for k in text.split(","))
    except ValueError:
        raise ValueError(f"--steps: not comma-separated integers: {text!r}") from None


def cmd_probe(args: argparse.Namespace) -> int:
    settings = ProbeSettings(args.levels, args.split, budgets=_budgets(args.steps), progress=True)
    name, out = args.probe, Path(args.run) / "probes"
    table, verdicts = measure(name, args.run, settings)
    stem = name.replace("-", "_")
    with exclusive(out, "probe"):
        atomic_write_text(out / f"{stem}.csv", table.to_csv(index=False))
        INSTRUMENTS[name].figure(table, out / stem, f"{name}: {Path(args.run).name}")
    print(summary(name, table).to_string(index=False))
    for agent, verdict in verdicts.items():
        print(f"{agent}: {verdict}")
    print(f"wrote {out / (stem + '.csv')} and {out / (stem + '.png')}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`mesaworld demo`, with `mesaworld demo mesa-optimizer` for the planning agent."""
    return cmd_mesa_demo(args) if args.task == "mesa-optimizer" else commands.cmd_demo(args)


def cmd_mesa_demo(args: argparse.Namespace) -> int:
    """The planning agent on the Roomba: the usual demo (baselines, training, the table), then
    its learned objective read (table + reward-map figure) and the thinking-time probe."""
    start = time.perf_counter()
    args.task = "roomba"
    say = (lambda *a: None) if args.quiet else print
    commands.cmd_demo(args, preset_name="roomba-planner")
    root = Path(args.out)
    say("\nthe mesa-objective: the planner's learned reward map on start observations")
    readout_args = argparse.Namespace(path=str(root), levels=200, quiet=False, labels=None)
    cmd_readout(readout_args)
    runs = sorted(p for p in root.glob("roomba-planner_*") if (p / "agent.json").is_file())
    settings = ProbeSettings(levels=100, budgets=(1, 2, 4, 10))
    for run in runs:
        for name, instrument in INSTRUMENTS.items():
            if why := refusal(name, run):
                say(f"\n{name}: {run.name}: {why}")
                continue
            say(f"\n{name}: {run.name}: {instrument.measures} (100 levels)")
            table, verdicts = measure(name, run, settings)
            stem = name.replace("-", "_")
            instrument.figure(table, run / "probes" / stem, f"{name}: {run.name}")
            say(summary(name, table).round(2).to_string(index=False))
            for agent, verdict in verdicts.items():
                say(f"  {agent}: {verdict}")
    say(f"\nfigures: {root / 'readout' / 'reward_maps_roomba.png'} (the mesa-objective),")
    say(
        f"         {root}/<run>/probes/{{{', '.join(n.replace('-', '_') for n in INSTRUMENTS)}}}.png"
    )
    say(f"(mesa-optimizer demo took {time.perf_counter() - start:.0f} s)")
    return 0
