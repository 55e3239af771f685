"""The README's readout-vs-labels table regenerates from the committed comparisons
(docs/results/sweeps/*/readout/readout_vs_plot.csv, written by
`mesaworld readout <sweep> --labels plot`; issue 24, items 1-2): per cell, the runs where the
readout and the plot labeller agree, disagree, or cannot be compared because the label is
uncertain."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "docs" / "results" / "sweeps"
NAMES = {
    "roomba-planner": "planner",
    "cheese-maze-planner": "planner",
    "cheese-maze-planner-coords": "planner + coords",
}


def comparison_rows() -> list[str]:
    lines = []
    for folder, name in NAMES.items():
        df = pd.read_csv(SWEEPS / folder / "readout" / "readout_vs_plot.csv")
        assert set(df["labeller"]) == {"plot"}
        task = "roomba" if folder.startswith("roomba") else "cheese-maze"
        for knob, g in df.groupby("knob"):
            where = f"{task}, knob {knob:g}" if task == "roomba" else task
            counts = g["agree"].value_counts()
            n = {k: int(counts.get(k, 0)) for k in ("yes", "no", "uncertain")}
            other = len(g) - sum(n.values())
            lines.append(
                f"| {where} | {name} | {len(g)} | {n['yes']} | {n['no']} | {n['uncertain']} | {other} |"
            )
    return lines


def test_the_readout_vs_labels_table_is_in_the_readme_as_computed():
    readme = (ROOT / "README.md").read_text()
    for line in comparison_rows():
        assert line in readme, line


if __name__ == "__main__":
    print("\n".join(comparison_rows()))
