"""The README's knob table (e01: `roomba-long`, 2M steps, can_fraction 0 and 0.25, 5 seeds)
regenerates from the committed runs in docs/results/sweeps/e01 (issue 24, item 1): the same
summary `mesaworld plot` prints (means, 95% t-intervals over seeds, labels with counts)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mesaworld.analysis.metrics import gap_table, run_summary
from mesaworld.analysis.runs import load_runs

ROOT = Path(__file__).resolve().parents[1]
E01 = ROOT / "docs" / "results" / "sweeps" / "e01"


def _ci(row: pd.Series, m: str, fmt: str, scale: float = 1.0) -> str:
    v, lo, hi = (scale * row[m + s] for s in ("", ":lo", ":hi"))
    return f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def knob_rows() -> list[str]:
    table = gap_table(run_summary(load_runs(E01)), root=str(E01))
    trained = table[table["role"] == "trained"]
    assert set(trained["seeds"]) == {5}
    lines = []
    for _, r in trained.iterrows():
        deploy = r["split"] == "deploy"
        cells = [
            f"{r['knob']:g}",
            "2M steps",
            r["split"],
            _ci(r, "norm/base", "{:.0f}", 100).replace(" [", "% [", 1),
            _ci(r, "excess/dust_collected", "{:.2f}") if deploy else "0.00",
            _ci(r, "behaviour", "{:.0f}", 100).replace(" [", "% [", 1) if deploy else "-",
            _ci(r, "pai", "{:.2f}") if deploy else "-",
            _ci(r, "length", "{:.1f}"),
            r["label"] if deploy else "",
        ]
        lines.append(("| " + " | ".join(cells) + " |").replace("|  |", "| |"))
    return lines


def test_the_knob_table_is_in_the_readme_as_computed():
    readme = (ROOT / "README.md").read_text().replace("**", "")  # bold marks the headline cells
    for line in knob_rows():
        assert line in readme, line


if __name__ == "__main__":
    print("\n".join(knob_rows()))
