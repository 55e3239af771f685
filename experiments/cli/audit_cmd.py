"""`mesaworld verdicts` (frozen instruments answer blind for every agent of a sealed zoo) and
`mesaworld audit` (score those verdicts against the zoo's key: the leaderboard)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from mesaworld.analysis.audit import (
    calibration,
    confusion,
    leaderboard_markdown,
    load_verdicts,
    markdown,
    open_key,
    score,
    verdict_frame,
)
from mesaworld.analysis.audit_figures import curve_figure, curves
from mesaworld.analysis.runfolder import atomic_write_text
from mesaworld.analysis.storage import exclusive
from mesaworld.experiments.instruments.verdicts import (
    VERDICT_INSTRUMENTS,
    ZooError,
    write_verdicts,
    zoo_agents,
    zoo_hash,
)


def add_verdicts_parser(sub) -> None:
    p = sub.add_parser(
        "verdicts",
        help="blind verdicts of frozen instruments on a sealed zoo (reads no key)",
        description="Each instrument answers, for every agent of the zoo's public folder, which "
        "objective it pursues (base, proxy:<k>, none) or abstains, with a probability; "
        "written to OUT/<instrument>.json before any key is read.",
    )
    p.add_argument("zoo", help="the zoo's public folder (Z, not Z.key)")
    p.add_argument("--out", required=True, help="folder for <instrument>.json verdict files")
    p.add_argument(
        "--instruments",
        default="all",
        help=f"comma-separated, or all ({', '.join(VERDICT_INSTRUMENTS)})",
    )
    p.add_argument("--seed", type=int, default=0, help="the instruments' own seed (levels, play)")
    p.add_argument("--levels", type=int, default=200, help="deploy-like levels per agent")


def add_audit_parser(sub) -> None:
    p = sub.add_parser(
        "audit",
        help="score blind verdicts against a sealed zoo's key: the leaderboard",
        description="Opens the key (recording the first opening: verdicts written later are "
        "refused), scores every verdict file in VERDICTS, prints the leaderboard, the "
        "confusion tables and the calibration, and writes them to OUT (default VERDICTS/audit).",
    )
    p.add_argument("zoo", help="the zoo's public folder (Z)")
    p.add_argument("--verdicts", required=True, help="folder of <instrument>.json verdict files")
    p.add_argument("--key", default=None, help="the key folder (default: Z.key beside Z)")
    p.add_argument("--out", default=None, help="folder for the audit tables")
    p.add_argument(
        "--also",
        nargs=2,
        action="append",
        default=[],
        metavar=("ZOO", "VERDICTS"),
        help="another zoo and its verdicts: adds a leaderboard pooled over every zoo given "
        "(its key is opened too); repeatable",
    )


def cmd_verdicts(args) -> int:
    names = list(VERDICT_INSTRUMENTS) if args.instruments == "all" else args.instruments.split(",")
    unknown = [n for n in names if n not in VERDICT_INSTRUMENTS]
    if unknown:
        raise ZooError(
            f"unknown verdict instrument {unknown[0]!r}; known: {', '.join(VERDICT_INSTRUMENTS)}"
        )
    if args.levels < 1:
        raise ZooError(f"--levels: must be a positive integer, got {args.levels}")
    n = len(zoo_agents(args.zoo))  # a folder that is not a zoo fails here, before any work
    with exclusive(Path(args.out), "verdicts"):  # two commands never share a work folder
        for name in names:
            print(f"verdicts: {name} on {n} agents ...", file=sys.stderr, flush=True)
            path = write_verdicts(args.zoo, name, args.out, seed=args.seed, levels=args.levels)
            print(path)
    return 0


def audit_tables(
    zoo: str | Path, verdicts: str | Path, key: str | Path | None = None, with_docs: bool = False
):
    """(frame, leaderboard, calibration) of the verdicts in `verdicts` against the key (and the
    verdict documents, with_docs)."""
    zoo = Path(zoo)
    zoo_agents(zoo)  # the public folder must be a zoo
    key = Path(key) if key else zoo.parent / f"{zoo.name}.key"
    truths, opened = open_key(key)
    docs = load_verdicts(verdicts, zoo_hash(zoo), opened)
    frame = verdict_frame(truths, docs)
    if with_docs:
        return frame, score(frame), calibration(frame), docs
    return frame, score(frame), calibration(frame)


def pooled_board(frame, others) -> pd.DataFrame:
    """The leaderboard over this zoo's verdict rows and those of every (zoo, verdicts) pair in
    `others` (agents of different zoos are different agents)."""
    frames = [frame] + [audit_tables(z, v)[0] for z, v in others]
    return score(pd.concat(frames, ignore_index=True))


def cmd_audit(args) -> int:
    frame, board, calib, docs = audit_tables(args.zoo, args.verdicts, args.key, with_docs=True)
    out = Path(args.out) if args.out else Path(args.verdicts) / "audit"
    out.mkdir(parents=True, exist_ok=True)
    curve_tables = [curves(frame, docs, truth) for truth in ("measured", "planted")]
    text = ["## Leaderboard (95% Wilson intervals over agents)", leaderboard_markdown(board)]
    for name in sorted(frame["instrument"].unique()):
        for truth in ("planted", "measured"):
            table = confusion(frame, name, truth)
            if table.size:
                text += [f"\n### {name}: {truth} (rows) vs answer", markdown(table, index=True)]
    text += ["\n## Calibration (planted truth, answers only)", markdown(calib)]
    if args.also:
        pooled = pooled_board(frame, args.also)
        atomic_write_text(out / "leaderboard_pooled.csv", pooled.to_csv(index=False))
        others = [{"zoo": str(z), "verdicts": str(v)} for z, v in args.also]
        atomic_write_text(out / "pooled_with.json", json.dumps(others, indent=1) + "\n")
        zoos = ", ".join([str(args.zoo)] + [z for z, _ in args.also])
        text += [f"\n## Pooled over the zoos {zoos}", leaderboard_markdown(pooled)]
    report = "\n".join(text) + "\n"
    atomic_write_text(out / "leaderboard.csv", board.to_csv(index=False))
    atomic_write_text(out / "verdicts.csv", frame.to_csv(index=False))
    atomic_write_text(out / "audit.md", report)
    for truth, table in zip(("measured", "planted"), curve_tables, strict=True):
        if len(table):  # identify files written before the curves were kept have none
            atomic_write_text(out / f"identification_{truth}.csv", table.to_csv(index=False))
            curve_figure(table, out / f"identification_{truth}")
    print(report)
    return 0
