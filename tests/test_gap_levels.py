"""The reward-result gap level by level (`mesaworld.analysis.gap_levels`): the per-level returns
add up to analyze's pooled gap exactly, and the hierarchical interval over runs and levels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mesaworld.analysis.behavioral import BehaviorSettings, analyze
from mesaworld.analysis.gap_levels import hierarchical, level_returns, main, run_gaps

DATA = Path(__file__).parent / "data" / "behavior" / "cheese_maze"  # 3 runs, 20 deploy levels


def test_levels_add_up_to_analyzes_gap_and_the_interval_covers_levels(tmp_path: Path):
    settings = BehaviorSettings(levels=5, train=False)
    rows, _, _ = analyze(DATA, settings, out=tmp_path / "a", quiet=True)
    table = pd.concat([level_returns(DATA / r["run"], r, settings) for _, r in rows.iterrows()])
    assert len(table) == 3 * 5 * 2  # runs x levels x objectives
    gaps = run_gaps(table, "corner")
    for _, r in rows.iterrows():
        assert gaps[r["run"]] == pytest.approx(r["gap/corner"], abs=1e-9)
    h = hierarchical(table, "corner")
    assert h["gap"] == pytest.approx(rows["gap/corner"].mean(), abs=1e-9)
    assert h["lo"] <= h["gap"] <= h["hi"] and (h["runs"], h["levels_per_run"]) == (3, 5)
    assert h["design"] == "crossed"  # the three seeds were evaluated on the same levels
    other = table.assign(level=table["level"] + 100 * table["run"].factorize()[0])
    assert hierarchical(other, "corner")["design"] == "nested"
    # one run, its levels resampled: a nonzero width where a seed interval would have none
    one = hierarchical(table[table.run == rows["run"].iloc[0]], "corner")
    assert one["hi"] - one["lo"] > 0


def test_bad_input_is_one_line(tmp_path: Path, capsys):
    assert main([str(DATA), "--analysis", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "behavioral.csv" in err[0]
    assert not (tmp_path / "x.csv").exists()
