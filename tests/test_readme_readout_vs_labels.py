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


FOLDER_NAMES = {
    "roomba-planner": "roomba planner",
    "cheese-maze-planner": "cheese planner",
    "cheese-maze-planner-coords": "cheese planner + coords",
}


def sensitivity_text(labeller: str) -> str:
    """The label sensitivity of the compared runs of all three folders (cells "<folder> knob
    <k>") and the readout threshold's, as printed beside each table."""
    from mesaworld.analysis.readout_irl import label_sensitivity_many, readout_sensitivity

    parts = [
        (SWEEPS / f, pd.read_csv(SWEEPS / f / "readout" / FILES[labeller]), name)
        for f, name in FOLDER_NAMES.items()
    ]
    both = pd.concat([t for _, t, _ in parts])
    return label_sensitivity_many(labeller, parts) + "\n\n" + readout_sensitivity(both)


@pytest.mark.parametrize("labeller", list(FILES))
def test_the_sensitivity_beside_each_table_and_the_counts_in_the_prose(labeller):
    readme = (ROOT / "README.md").read_text()
    assert sensitivity_text(labeller) in readme
    both = pd.concat(pd.read_csv(SWEEPS / f / "readout" / FILES[labeller]) for f in FOLDER_NAMES)
    n = both["agree"].value_counts()
    yes, no = int(n.get("yes", 0)), int(n.get("no", 0))
    rest = len(both) - yes - no
    said = {
        "plot": f"{yes} of {len(both)} agree, {no} disagrees, {rest} cannot be compared",
        "analyze": f"{yes} of {len(both)} agree, none disagrees, {rest} cannot be compared",
    }[labeller]
    assert no == (1 if labeller == "plot" else 0)
    assert said in " ".join(readme.split()), said


def test_the_coords_planners_flips_and_readout_in_the_prose():
    """'Three of the four uncertain coords planners flip to undertrained when TRAINED moves to
    0.99 ..., the fourth to capability failure; all five are labelled goal misgeneralization
    (corner) as set, which the readout's "corner valued" (4 of 5; ratio 0.82 "unclear" for seed
    3) matches.'"""
    d = pd.read_csv(SWEEPS / "cheese-maze-planner-coords" / "readout" / "readout_vs_irl.csv")
    uncertain = d[d["agree"] == "uncertain"]
    assert len(uncertain) == 4
    assert sorted(uncertain["flips"]) == ["capability failure"] + ["undertrained"] * 3
    assert set(d["label"]) == {"goal misgeneralization (corner)"}
    assert (d["readout says"] == "proxy valued").sum() == 4
    seed3 = d[d["seed"] == 3].iloc[0]
    assert seed3["readout says"] == "unclear"
    prose = " ".join((ROOT / "README.md").read_text().split())
    assert f'(4 of 5; ratio {seed3["readout ratio"]:.2f} "unclear" for seed 3)' in prose
    assert "Three of the four uncertain coords planners flip to undertrained" in prose
