"""The README's e08 section (belief updating against elimination) from committed data: the
tables are `e08_belief_updating`'s output on docs/results/e08_belief_runs.csv, and every number
its prose cites is read back from those runs or from the exact learners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesaworld.analysis.bayes import cue_prior
from mesaworld.analysis.bayes_noisy import persistence, posterior
from mesaworld.experiments.e08_belief_updating import cells, markdown

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
README = (ROOT / "README.md").read_text()
PROSE = " ".join(README.split())
RUNS = pd.read_csv(RESULTS / "e08_belief_runs.csv")
CELLS = pd.read_csv(RESULTS / "e08_belief_cells.csv")


def _cell(knob: float, split: str, measure: str, index: int, column: str = "agent") -> float:
    hit = CELLS[
        (CELLS["knob"].round(3) == round(knob, 3)) & (CELLS["split"] == split)
        & (CELLS["measure"] == measure) & (CELLS["index"] == index)
    ]  # fmt: skip
    assert len(hit) == 1
    return float(hit[column].iloc[0])


def _ci(knob, split, measure, index, digits=2, scale=1.0):
    f = f"{{:.{digits}f}}"
    vals = [
        _cell(knob, split, measure, index, c) * scale for c in ("agent", "agent:lo", "agent:hi")
    ]
    return f"{f.format(vals[0])} [{f.format(vals[1])}, {f.format(vals[2])}]"


def test_the_cells_are_the_runs_and_the_tables_are_in_the_readme():
    pd.testing.assert_frame_equal(cells(RUNS), CELLS, check_dtype=False)
    assert markdown(CELLS) in README
    assert "](docs/belief_updating.png)" in README and (ROOT / "docs/belief_updating.png").is_file()
    assert (CELLS.groupby("knob")["runs"].max() >= 5).all()


def test_the_prose_numbers_are_the_runs():
    pct = lambda x: f"{round(100 * x)}%"  # noqa: E731
    back1 = [_cell(k, "both", "persist", 1) for k in (1 / 3, 0.6, 0.8)]
    assert [pct(x) for x in back1] == ["1%", "74%", "100%"]
    for text in ("go back 1% of the time", "74% when it was right 60%", "and 100% at 80%"):
        assert text in PROSE
    assert f"After two misses: {pct(_cell(0.6, 'both', 'persist', 2))} at 0.6, " in PROSE
    assert f"{pct(_cell(0.8, 'both', 'persist', 2))} at 0.8" in PROSE
    assert f"They collect {_ci(0.8, 'train', 'total', 0)}".lower() in PROSE.lower()
    assert (
        f"Bayesian learner collects {_cell(0.8, 'train', 'total', 0, 'bayes_levels'):.2f}" in PROSE
    )
    assert f"elimination {_cell(0.8, 'train', 'total', 0, 'elimination_levels'):.2f}." in PROSE
    assert "goes back 95% of the time" in PROSE and pct(_cell(0.8, "both", "persist", 3)) == "95%"
    four = _ci(0.8, "both", "persist", 4, digits=0, scale=100)  # "56 [33, 79]"
    assert f"each other one) {four.replace(' [', '% [')}" in PROSE
    assert f"first payment in trial {_ci(0.8, 'deploy', 'first', 0)}" in PROSE
    assert (
        f"needs {_cell(0.8, 'deploy', 'first', 0, 'bayes_train_levels'):.2f} and elimination {_cell(0.8, 'deploy', 'first', 0, 'elimination_levels'):.2f}"
        in PROSE
    )
    assert f"trial 1 follows the lamp {pct(_cell(0.6, 'train', 'follow', 0))} of the time" in PROSE
    assert f"it collects {_ci(0.6, 'train', 'total', 0)} payments per episode" in PROSE
    assert f"elimination's {_cell(0.6, 'train', 'total', 0, 'elimination_levels'):.2f}" in PROSE
    assert f"Bayesian learner's {_cell(0.6, 'train', 'total', 0, 'bayes_levels'):.2f}" in PROSE
    assert (
        f"first payment ({_ci(0.6, 'deploy', 'first', 0)}) matches the misled Bayesian learner's {_cell(0.6, 'deploy', 'first', 0, 'bayes_train_levels'):.2f}"
        in PROSE
    )
    totals = RUNS[(RUNS["measure"] == "total") & (RUNS["split"] == "train") & (RUNS["knob"] < 0.4)]
    totals = totals.set_index("run")["agent"]
    stuck = totals[totals.index.str.endswith("seed4")].iloc[0]
    rest = totals[~totals.index.str.endswith("seed4")]
    assert f"(4) collects {stuck:.2f} payments" in PROSE
    assert f"the others' {rest.min():.2f}-{rest.max():.2f}" in PROSE
    stay = RUNS[RUNS["measure"] == "stay"]["agent"]
    assert f"{100 * stay.min():.1f}-100% of the time" in PROSE and stay.max() == 1.0


@pytest.mark.parametrize("lamp, returns", [(1 / 3, [0, 0]), (0.6, [1, 0]), (0.8, [1, 1])])
def test_the_bayesian_numbers_the_prose_gives(lamp, returns):
    assert persistence(cue_prior(lamp), 8, 0.5)[:2] == returns
    assert "(0, 1, 1 after one miss; 0, 0, 1 after two)" in PROSE


def test_the_posteriors_the_prose_gives():
    np.testing.assert_allclose(posterior(cue_prior(0.6), (1, 0, 0), 0.5), [3 / 7, 2 / 7, 2 / 7])
    assert "posterior 0.43 against 0.29" in PROSE
    np.testing.assert_allclose(posterior(cue_prior(0.8), (3, 0, 0), 0.5), [1 / 3] * 3)
    np.testing.assert_allclose(posterior(cue_prior(0.8), (4, 0, 0), 0.5), [0.2, 0.4, 0.4])
    assert "after four 0.2 against 0.4" in PROSE
