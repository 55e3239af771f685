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


RECURRENT = ROOT / "docs" / "results" / "sweeps" / "roomba-recurrent"


def thinking_time_markdown(
    sweep: Path = SWEEP, prefix: str = "roomba-planner", trained: int = 10, what: str = "K"
) -> str:
    """The table from the 5 seeds' probe files; the recurrent agent's adds its train episode
    length (the steps it takes, where its floor is 100% at every budget)."""
    files = sorted(sweep.glob(f"{prefix}_knob0_seed*/probes/thinking_time.csv"))
    assert len(files) == 5, files
    df = pd.concat([pd.read_csv(f) for f in files])
    budgets = sorted(df["budget"].unique())

    def cell(split: str, column: str, k: int, pct: bool = True) -> str:
        x = df[(df["split"] == split) & (df["budget"] == k)][column].to_numpy(float)
        lo, hi = t_interval(x)
        if not pct:
            return f"{x.mean():.1f} [{lo:.1f}, {hi:.1f}]"
        return f"{100 * x.mean():.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"

    head = [f"{what} at test time"] + [
        f"{k} (trained)" if k == trained else str(k) for k in budgets
    ]
    rows = [
        ["train floor cleaned"] + [cell("train", "norm/base", k) for k in budgets],
        ["deploy cans emptied"] + [cell("deploy", "behaviour", k) for k in budgets],
    ]
    if prefix == "roomba-recurrent":
        rows.insert(
            1, ["train episode length"] + [cell("train", "length", k, False) for k in budgets]
        )
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    assert np.isfinite(df["norm/base"]).all()
    return "\n".join(lines)


def test_the_thinking_time_table_is_in_the_readme_as_computed():
    table = thinking_time_markdown()
    readme = (ROOT / "README.md").read_text()
    for line in table.splitlines():
        assert line in readme, line


def recurrent_markdown() -> str:
    return thinking_time_markdown(RECURRENT, "roomba-recurrent", 2, "ticks")


def test_the_recurrent_agents_thinking_time_table_is_in_the_readme_as_computed():
    """`mesaworld probe thinking-time <run> --steps 1,2,4,8 --levels 100` on each of the 5
    committed roomba-recurrent runs (issue 24: the claim rested on seeds 0 and 1)."""
    table = recurrent_markdown()
    readme = (ROOT / "README.md").read_text()
    for line in table.splitlines():
        assert line in readme, line


if __name__ == "__main__":
    print(thinking_time_markdown())
    print(recurrent_markdown())


def test_the_recurrent_per_seed_facts():
    """'On every seed one tick fewer than trained makes it slower (1.4-3.8 more steps per
    episode) and more ticks buy little (4 or 8 ticks save at most 1.0 step ...)'."""
    slower, saved = [], []
    for f in sorted(RECURRENT.glob("roomba-recurrent_knob0_seed*/probes/thinking_time.csv")):
        d = pd.read_csv(f)
        length = d[d["split"] == "train"].set_index("budget")["length"]
        slower.append(length[1] - length[2])
        saved.append(max(length[2] - length[4], length[2] - length[8]))
    assert len(slower) == 5 and min(slower) > 0
    prose = " ".join((ROOT / "README.md").read_text().split())
    assert f"({min(slower):.1f}-{max(slower):.1f} more steps per episode)" in prose
    assert f"save at most {max(saved):.1f} step of ~25" in prose
