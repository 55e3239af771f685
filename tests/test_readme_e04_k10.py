"""The README's second storeroom design (trained at K = 10, `e04_trained_k`) from its committed
capability rows: the table as the script prints it, and the prose numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mesaworld.experiments.e04_suboptimality import label_sensitivity
from mesaworld.experiments.e04_trained_k import main, markdown

ROOT = Path(__file__).resolve().parent.parent
ROWS = pd.read_csv(ROOT / "docs/results/e04_k10_capability_runs.csv")
README = (ROOT / "README.md").read_text()
PROSE = " ".join(README.split())


def test_the_table_is_the_scripts_output_on_the_committed_rows(tmp_path, capsys):
    printed = markdown(ROWS) + "\n\n" + label_sensitivity(ROWS)
    assert printed in README  # the table with its label sensitivity beside it
    csv = str(ROOT / "docs/results/e04_k10_capability_runs.csv")
    assert main(["--from-runs", csv, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == printed
    assert main(["--trained-k", "40", "--out", str(tmp_path / "x")]) == 2


def test_the_prose_numbers_are_the_rows():
    train = ROWS[ROWS["split"] == "train"]
    at10, at40 = train[train["budget"] == 10], train[train["budget"] == 40]
    assert (at10["score/base"].round(2) == 1.0).sum() == 9 and len(at10) == 10
    assert "(base score 1.00 at K = 10 on 9 of the 10 runs)" in PROSE
    top = at40.set_index(["seed", "total_steps"])["behaviour"]
    assert round(100 * top.max()) == 34 and set(top[top > 0.3].index.get_level_values(0)) == {0}
    others = top[top.index.get_level_values(0) != 0]
    assert f"the others {round(100 * others.min())}-{round(100 * others.max())}%" in PROSE
    assert not at40["label"].str.contains("suboptimality").any()
    seed4 = at10[at10["seed"] == 4].set_index("total_steps")
    assert f"({round(100 * seed4['behaviour'].iloc[0])}% of them emptied on train levels" in PROSE
    read = at40[at40["seed"] != 4]["readout"]
    assert f"({read.min():.2f}-{read.max():.2f} on the other seeds' runs)" in PROSE
    assert f"(readout {seed4['readout'].iloc[0]:.2f}, then {seed4['readout'].iloc[1]:.2f})" in PROSE
