"""The README's readout-vs-labels tables regenerate from the committed comparisons
(docs/results/sweeps/*/readout/readout_vs_plot.csv, written by
`mesaworld readout <sweep> --labels plot`, and readout_vs_irl.csv, by `mesaworld analyze
<sweep> --levels 100` then `mesaworld readout <sweep> --labels analyze`; issue 24, items 1-2):
per cell, the runs where the readout and the named labeller agree, disagree, or cannot be
compared because the label is uncertain."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "docs" / "results" / "sweeps"
NAMES = {
    "roomba-planner": "planner",
    "cheese-maze-planner": "planner",
    "cheese-maze-planner-coords": "planner + coords",
}


FILES = {"plot": "readout_vs_plot.csv", "analyze": "readout_vs_irl.csv"}


def comparison_rows(labeller: str = "plot") -> list[str]:
    lines = []
    for folder, name in NAMES.items():
        df = pd.read_csv(SWEEPS / folder / "readout" / FILES[labeller])
        assert set(df["labeller"]) == {labeller}
        task = "roomba" if folder.startswith("roomba") else "cheese-maze"
        for knob, g in df.groupby("knob"):
            where = f"{task}, knob {knob:g}" if task == "roomba" else task
            counts = g["agree"].value_counts()
            n = {k: int(counts.get(k, 0)) for k in ("yes", "no", "uncertain")}
            other = len(g) - sum(n.values())
            cells = f"{len(g)} | {n['yes']} | {n['no']} | {n['uncertain']} | {other}"
            lead = "" if labeller == "plot" else f"{labeller} | "
            lines.append(f"| {lead}{where} | {name} | {cells} |")
    return lines


@pytest.mark.parametrize("labeller", list(FILES))
def test_the_readout_vs_labels_table_is_in_the_readme_as_computed(labeller):
    readme = (ROOT / "README.md").read_text()
    for line in comparison_rows(labeller):
        assert line in readme, line


if __name__ == "__main__":
    for name in FILES:
        print("\n".join(comparison_rows(name)))
