"""The README's architectures table, its label sensitivity and the planner prose regenerate from the
committed runs under docs/results/sweeps (issue 24, item 1): e02 is run on them and its output must
appear in the README as printed; the readout ratios the prose quotes come from the committed
readout cells."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mesaworld.experiments import e02_architectures

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "results" / "sweeps"
FOLDERS = [
    "cheese-maze-planner",
    "cheese-maze-planner-coords",
    "cheese-maze-mlp",
    "e01",
    "roomba-planner",
    "roomba-recurrent",
]


@pytest.fixture(scope="module")
def printed():
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = e02_architectures.main([str(RUNS / f) for f in FOLDERS])
    assert rc == 0
    return buf.getvalue()


def test_the_architectures_table_and_its_sensitivity_are_in_the_readme_as_printed(printed):
    readme = (ROOT / "README.md").read_text()
    table, sensitivity = printed.split("\n\nlabel sensitivity", 1)
    for line in table.strip().splitlines():
        assert line in readme, line
    for line in ("label sensitivity" + sensitivity).strip().splitlines():
        if line.strip():
            assert line in readme, line


def test_the_committed_csv_is_the_table(printed):
    csv = pd.read_csv(ROOT / "docs" / "results" / "e02_architectures.csv", dtype=str)
    assert len(csv) == 8
    csv["knob"] = [f"{float(k):g}" for k in csv["knob"]]
    for _, row in csv.iterrows():
        assert "| " + " | ".join(row.fillna("-").tolist()) + " |" in printed


@pytest.mark.parametrize(
    ("folder", "knob", "quoted"),
    [
        ("roomba-planner", 0.0, "**ratio 1.04 [1.01, 1.08]**"),
        ("roomba-planner", 0.25, "**ratio 0.12 [-0.08, 0.33]**"),
        ("cheese-maze-planner-coords", 1.0, "corner 1.25x the cheese"),
    ],
)
def test_the_readout_ratios_the_prose_quotes(folder, knob, quoted):
    cells = pd.read_csv(RUNS / folder / "readout" / "cells.csv")
    row = cells[cells["knob"] == knob].iloc[0]
    col = [c for c in cells.columns if c.startswith("deploy/ratio/") and ":" not in c][0]
    mean, lo, hi = (row[col + s] for s in ("", ":lo", ":hi"))
    said = f"{mean:.2f}" if "[" not in quoted else f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"
    assert said in quoted, (said, quoted)
    assert quoted in (ROOT / "README.md").read_text()
