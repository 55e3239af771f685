"""The README's identification tables are the committed measurements summarized
(`identify_trained.summary_table` of the CSVs `benchmarks/identify_trained.py` wrote)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mesaworld.experiments.instruments.identify_trained import summary_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "name", ["identify_cheese_maze_planners.csv", "identify_roomba_planners.csv"]
)
def test_the_identify_table_is_in_the_readme_as_computed(name):
    with open(ROOT / "docs/results" / name) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 30
    table = summary_table(rows)
    readme = (ROOT / "README.md").read_text()
    for line in table.splitlines()[2:]:
        assert line in readme, line
