"""How much do the labels of `mesaworld analyze` depend on its choices?

    python benchmarks/label_sensitivity.py runs/sweep_coin              # 20 vs 200 levels
    python benchmarks/label_sensitivity.py runs/sweep_coin --levels 10,40 --max-states 300000

For every finished run under the folder, `analyze` is run once per level count. Printed: per run,
the label at each count and what it flips to when one threshold moves by +-0.1
(`mesaworld.analysis.labels.judge`), and the totals: how many labels are uncertain under +-0.1, and how
many change between the level counts (the audit's case: the cheese agents at corner size 11 sat
on the 0.5 threshold, "capability failure" on 20 levels and "generalizes" on 200).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mesaworld.analysis.behavioral import BehaviorSettings, analyze


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("root", help="a folder of finished run folders")
    p.add_argument("--levels", default="20,200", help="comma-separated level counts")
    p.add_argument("--max-states", type=int, default=300_000)
    args = p.parse_args(argv)
    counts = [int(x) for x in args.levels.split(",")]
    if len(counts) < 2 or min(counts) < 2:
        print("label_sensitivity: error: --levels: give two or more counts >= 2", file=sys.stderr)
        return 2
    start = time.perf_counter()
    labels = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            settings = BehaviorSettings(levels=n, max_states=args.max_states)
            rows, _, _ = analyze(args.root, settings, out=Path(tmp) / str(n), quiet=True)
            labels[n] = rows.set_index("run")[["label", "flips", "levels"]]
    runs = labels[counts[0]].index
    changed = uncertain = 0
    for run in runs:
        seen = [labels[n].loc[run] for n in counts]
        differs = len({r["label"] for r in seen}) > 1
        flips = any(isinstance(r["flips"], str) and r["flips"] for r in seen)
        changed += differs
        uncertain += flips
        text = " | ".join(
            f"{int(r['levels'])} levels: {r['label']}"
            + (f" (flips to {r['flips']})" if isinstance(r["flips"], str) and r["flips"] else "")
            for r in seen
        )
        print(f"{run}: {text}{'   <- changes' if differs else ''}")
    print(
        f"{len(runs)} runs: {uncertain} uncertain under +-0.1 on a threshold, {changed} change "
        f"between {' and '.join(map(str, counts))} levels ({time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
