"""`mesaworld readout`: read planning agents' learned objectives (`analysis.readout`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.readout import format_readout, readout
from experiments.storage import atomic_write_text, exclusive


def add_readout_parser(sub) -> None:
    p = sub.add_parser(
        "readout",
        help="a planning agent's mesa-objective: its reward map vs each objective",
        description=(
            "For every finished planner run (--network planner) under PATH: the learned reward "
            "map on the start observation of each train and deploy evaluation level, read "
            "against each objective's target cells (normalized: 1 = valued like the base "
            "objective's targets, 0 = like empty floor). Writes <path>/readout/readout.csv "
            "(a row per run) and cells.csv (a row per knob, t-intervals over seeds)."
        ),
    )
    p.add_argument("path", help="a planner run folder, or a folder of run folders")
    p.add_argument("--levels", type=int, default=200, help="evaluation levels per split")
    p.add_argument("--quiet", action="store_true", help="no table")


def cmd_readout(args: argparse.Namespace) -> int:
    if args.levels < 1:
        raise ValueError("--levels: must be a positive integer")
    rows, cells = readout(args.path, args.levels)
    out = Path(args.path) / "readout"
    with exclusive(out, "readout"):
        atomic_write_text(out / "cells.csv", cells.to_csv(index=False))
        atomic_write_text(out / "readout.csv", rows.to_csv(index=False))
    if not args.quiet:
        print(format_readout(cells))
        print(f"wrote {out / 'readout.csv'} and {out / 'cells.csv'}")
    return 0
