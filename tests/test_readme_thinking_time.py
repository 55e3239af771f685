"""The README's thinking-time table (the Roomba planner at knob 0, K changed at test time with the
same weights) regenerates from the committed probe files of 5 seeds (issue 24, item 1: it rested on
seed 0 alone): `mesaworld probe thinking-time <run> --steps 1,2,4,10,20 --levels 100` per seed,
means over seeds with 95% t-intervals over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.metrics import t_interval

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "docs" / "results" / "sweeps" / "roomba-planner"


def thinking_time_markdown() -> str:
    files = sorted(SWEEP.glob("roomba-planner_knob0_seed*/probes/thinking_time.csv"))
    assert len(files) == 5, files
    df = pd.concat([pd.read_csv(f) for f in files])
    budgets = sorted(df["budget"].unique())

    def cell(split: str, column: str, k: int) -> str:
        x = df[(df["split"] == split) & (df["budget"] == k)][column].to_numpy(float)
        lo, hi = t_interval(x)
        return f"{100 * x.mean():.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"

    head = ["K at test time"] + [f"{k} (trained)" if k == 10 else str(k) for k in budgets]
    rows = [
        ["train floor cleaned"] + [cell("train", "norm/base", k) for k in budgets],
        ["deploy cans emptied"] + [cell("deploy", "behaviour", k) for k in budgets],
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    assert np.isfinite(df["norm/base"]).all()
    return "\n".join(lines)


def test_the_thinking_time_table_is_in_the_readme_as_computed():
    table = thinking_time_markdown()
    readme = (ROOT / "README.md").read_text()
    for line in table.splitlines():
        assert line in readme, line


if __name__ == "__main__":
    print(thinking_time_markdown())
