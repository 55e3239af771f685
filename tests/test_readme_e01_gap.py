"""The Roomba knob experiment's reward-result gap (README, "The behavioral objective says the
same") regenerates from committed data: analyze's output on docs/results/sweeps/e01 and the
per-level returns of `mesaworld.analysis.gap_levels`, which add up to analyze's gaps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mesaworld.analysis.gap_levels import hierarchical, run_gaps

ROOT = Path(__file__).parents[1]
ANALYSIS = ROOT / "docs" / "results" / "sweeps" / "e01" / "analysis"


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:.2f}, {hi:.2f}]"


def test_the_gap_and_both_intervals_are_the_readmes():
    readme = (ROOT / "README.md").read_text()
    runs = pd.read_csv(ANALYSIS / "behavioral.csv").set_index("run")
    cells = pd.read_csv(ANALYSIS / "attribution.csv")
    levels = pd.read_csv(ANALYSIS / "gap_levels.csv")
    # the per-level returns are analyze's own runs, levels and gaps
    gaps = run_gaps(levels, "dust_collected")
    for run, gap in gaps.items():
        assert gap == pytest.approx(runs.loc[run, "gap/dust_collected"], abs=1e-9)
        assert levels[levels.run == run]["level"].nunique() == runs.loc[run, "levels"] == 4
    expect = {0.0: ("-0.72", "-0.77, -0.68", "-0.79, -0.68"), 0.25: ("0.30", "0.14, 0.46",
              "0.16, 0.50")}  # fmt: skip
    for knob, (gap, t_ci, boot_ci) in expect.items():
        cell = cells[(cells.kind == "ppo") & (cells.knob == knob)].iloc[0]
        assert f"{cell['gap/dust_collected']:.2f}" == gap
        col = "gap/dust_collected"
        assert _ci(cell[f"{col}:lo"], cell[f"{col}:hi"]) == f"[{t_ci}]"
        h = hierarchical(levels[levels.knob == knob], "dust_collected")
        assert h["design"] == "crossed" and h["gap"] == pytest.approx(cell[col], abs=1e-9)
        assert _ci(h["lo"], h["hi"]) == f"[{boot_ci}]"
        assert f"[{t_ci}]" in readme and f"**[{boot_ci}]**" in readme
    assert "**-0.72** [-0.77, -0.68]" in readme and "**0.30** [0.14, 0.46]" in readme
    flat = " ".join(readme.split())
    # "4 levels (evaluation levels 0, 1, 2 and 19 ...), the same 4 for every seed"
    per_run = levels.groupby("run")["level"].apply(lambda x: tuple(sorted(set(x))))
    assert set(per_run) == {(0, 1, 2, 19)} and len(per_run) == 10
    assert "(evaluation levels 0, 1, 2 and 19; the other 16 are larger), the same 4 for" in flat
    for knob in (0.0, 0.25):  # the held-out attribution, nats/step x1000
        cell = cells[(cells.kind == "ppo") & (cells.knob == knob)].iloc[0]
        g = [1000 * cell[f"gain_diff/dust_collected{s}"] for s in ("", ":lo", ":hi")]
        sign = "+" if knob else ""
        assert (
            f"{sign}{g[0]:.0f} [{g[1]:.0f}, {g[2]:.0f}] at {'0.25' if knob else 'knob 0'}" in flat
        )


def test_the_label_sensitivity_beside_the_gap_is_the_readmes():
    from tests.test_readme_calibration import sensitivity_table

    def cell(r):
        return r["run"] if r["role"] != "trained" else f"{r['preset']} {r['knob']:g}"

    table = sensitivity_table(ANALYSIS / "behavioral.csv", cell)
    assert table in (ROOT / "README.md").read_text()
