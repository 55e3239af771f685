"""How much do the labels of `mesaworld analyze` depend on its choices?

    python benchmarks/label_sensitivity.py runs/sweep_coin              # 20 vs 200 levels
    python benchmarks/label_sensitivity.py runs/sweep_coin --levels 10,40 --max-states 300000

For every finished run under the folder, `analyze` is run once per level count. Printed: per run,
the label at each count and what it flips to under the one uncertainty rule
(`mesaworld.analysis.labels.judged`: every threshold moved by its step, GAIN_PURSUED included),
then the shared sensitivity table (`mesaworld.analysis.labels.sensitivity`, the one the
experiment scripts print beside their labels): what each threshold moved alone does to the
labels at the first level count, and what each other level count does (the audit's case: the
cheese agents at corner size 11 sat on the 0.5 threshold, "capability failure" on 20 levels and
"generalizes" on 200).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mesaworld.analysis.behavioral import BehaviorSettings, analyze, labellers
from mesaworld.analysis.labels import sensitivity, sensitivity_markdown


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("root", help="a folder of finished run folders")
    p.add_argument("--levels", default="20,200", help="comma-separated level counts")
    p.add_argument("--max-states", type=int, default=300_000)
    args = p.parse_args(argv)
    try:
        counts = [int(x) for x in args.levels.split(",")]
    except ValueError:
        counts = []
    if len(counts) < 2 or min(counts) < 2:
        print("label_sensitivity: error: --levels: give two or more counts >= 2", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            settings = BehaviorSettings(levels=n, max_states=args.max_states)
            rows[n], _, _ = analyze(args.root, settings, out=Path(tmp) / str(n), quiet=True)
    labels = {n: r.set_index("run")[["label", "flips", "levels"]] for n, r in rows.items()}
    runs = labels[counts[0]].index
    for run in runs:
        seen = [labels[n].loc[run] for n in counts]
        differs = len({r["label"] for r in seen}) > 1
        text = " | ".join(
            f"{int(r['levels'])} levels: {r['label']}"
            + (f" (flips to {r['flips']})" if isinstance(r["flips"], str) and r["flips"] else "")
            for r in seen
        )
        print(f"{run}: {text}{'   <- changes' if differs else ''}")
    first = rows[counts[0]]
    cells = {
        str(r["run"]): f"{r['task']} {r['agent']}"
        + ("" if r["knob"] != r["knob"] else f" {r['knob']:g}")
        for _, r in first.iterrows()
    }
    other = {
        ("analyzed levels", str(counts[0]), str(n)): dict(zip(r["run"].astype(str), r["label"]))
        for n, r in rows.items()
        if n != counts[0]
    }
    table = sensitivity(labellers(first), cells, other, unused=("pai_pursued",))
    print()
    print(sensitivity_markdown(table))
    uncertain = sum(isinstance(f, str) and bool(f) for f in labels[counts[0]]["flips"])
    print(
        f"{len(runs)} runs: {uncertain} uncertain at {counts[0]} levels "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
