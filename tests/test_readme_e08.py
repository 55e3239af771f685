"""The README's e08 section (belief updating against elimination) from committed data: the
tables are `e08_belief_updating`'s output on docs/results/e08_belief_runs.csv and
e08_belief_decisions.csv, and every number its prose cites is read back from those files or
from the exact learners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesaworld.analysis.bayes import cue_prior
from mesaworld.analysis.bayes_noisy import advantage, curves, first_trial, persistence, posterior
from mesaworld.experiments.e08_belief_updating import cells, markdown, rules_markdown
from mesaworld.experiments.instruments.belief_updating import agreement, telling_states

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
README = (ROOT / "README.md").read_text()
PROSE = " ".join(README.split())
RUNS = pd.read_csv(RESULTS / "e08_belief_runs.csv")
CELLS = pd.read_csv(RESULTS / "e08_belief_cells.csv")
DECS = pd.read_csv(RESULTS / "e08_belief_decisions.csv")


def _cell(knob: float, split: str, measure: str, index: int, column: str = "agent") -> float:
    hit = CELLS[
        (CELLS["knob"].round(3) == round(knob, 3)) & (CELLS["split"] == split)
        & (CELLS["measure"] == measure) & (CELLS["index"] == index)
    ]  # fmt: skip
    assert len(hit) == 1
    return float(hit[column].iloc[0])


def _ci(knob, split, measure, index, digits=2, scale=1.0) -> str:
    f = f"{{:.{digits}f}}"
    vals = [
        _cell(knob, split, measure, index, c) * scale for c in ("agent", "agent:lo", "agent:hi")
    ]
    return f"{f.format(vals[0])} [{f.format(vals[1])}, {f.format(vals[2])}]"


def _pct(x: float) -> str:
    return f"{round(100 * x)}%"


def _pct_ci(knob, split, measure, index) -> str:  # "55% [33, 78]"
    return _ci(knob, split, measure, index, digits=0, scale=100).replace(" [", "% [")


@pytest.fixture(scope="module")
def rules():
    return agreement(DECS), telling_states(DECS)


def test_the_cells_are_the_runs_and_the_tables_are_in_the_readme(rules):
    pd.testing.assert_frame_equal(cells(RUNS), CELLS, check_dtype=False)
    assert markdown(CELLS) in README
    assert rules_markdown(*rules) in README
    assert "](docs/belief_updating.png)" in README and (ROOT / "docs/belief_updating.png").is_file()
    assert (CELLS.groupby("knob")["runs"].max() >= 5).all()


def test_the_prose_on_returns_and_payments_is_the_runs():
    back1 = [_cell(k, "both", "persist", 1) for k in (1 / 3, 0.6, 0.8)]
    assert back1[0] < 0.01 and "go back under 1% of the time" in PROSE
    assert f"{_pct(back1[1])} when it was right 60%" in PROSE
    assert f"and {_pct(back1[2])} at 80%" in PROSE
    assert f"after two misses, {_pct(_cell(0.6, 'both', 'persist', 2))} at 0.6 and " in PROSE
    assert f"{_pct(_cell(0.8, 'both', 'persist', 2))} at 0.8" in PROSE
    assert f"they collect {_ci(0.8, 'train', 'total', 0)} payments" in PROSE
    assert f"collects {_cell(0.8, 'train', 'total', 0, 'bayes_levels'):.2f} on the same" in PROSE
    assert f"elimination {_cell(0.8, 'train', 'total', 0, 'elimination_levels'):.2f}." in PROSE
    assert f"goes back {_pct(_cell(0.8, 'both', 'persist', 3))} of the time" in PROSE
    assert f"one) {_pct_ci(0.8, 'both', 'persist', 4)}, where the Bayesian" in PROSE
    assert f"{_pct_ci(0.8, 'deploy', 'stayed', 6)} of episodes are still on the" in PROSE
    assert _cell(0.8, "deploy", "stayed", 6, "bayes_train") == 0
    assert f"first payment in trial {_ci(0.8, 'deploy', 'first', 0)}" in PROSE
    misled = _cell(0.8, "deploy", "first", 0, "bayes_train_levels")
    elim = _cell(0.8, "deploy", "first", 0, "elimination_levels")
    assert f"needs {misled:.2f} on these levels" in PROSE and f"elimination {elim:.2f}." in PROSE
    f06 = _pct(_cell(0.6, "train", "follow", 0))
    assert f"follows the lamp in trial 1 {f06} of the time and goes back after one miss" in PROSE
    assert f"goes back after two {_pct_ci(0.6, 'both', 'persist', 2)}" in PROSE
    assert f"it collects {_ci(0.6, 'train', 'total', 0)} payments per episode" in PROSE
    assert f"elimination's {_cell(0.6, 'train', 'total', 0, 'elimination_levels'):.2f}" in PROSE
    assert f"Bayesian learner's {_cell(0.6, 'train', 'total', 0, 'bayes_levels'):.2f}" in PROSE
    first = _cell(0.6, "deploy", "first", 0, "bayes_train_levels")
    assert (
        f"first payment ({_ci(0.6, 'deploy', 'first', 0)}) equals the misled Bayesian learner's {first:.2f}"
        in PROSE
    )  # noqa: E501
    totals = RUNS[(RUNS["measure"] == "total") & (RUNS["split"] == "train") & (RUNS["knob"] < 0.4)]
    totals = totals.set_index("run")["agent"]
    stuck = totals[totals.index.str.endswith("seed4")].iloc[0]
    rest = totals[~totals.index.str.endswith("seed4")]
    assert f"(4) collects {stuck:.2f} payments" in PROSE
    assert f"the others' {rest.min():.2f}-{rest.max():.2f}" in PROSE
    stay = RUNS[RUNS["measure"] == "stay"]["agent"]
    assert f"{100 * stay.min():.1f}-100% of the time" in PROSE and stay.max() == 1.0
    follow = (_cell(1 / 3, "train", "follow", 0), _cell(1 / 3, "deploy", "follow", 0))
    assert f"lamp {follow[0]:.2f} of the time on train levels, {follow[1]:.2f} on deploy" in PROSE


def test_the_prose_on_the_rules_is_the_decisions(rules):
    agree, states = rules
    mean = agree.groupby(["knob", "rule"])["agreement"].mean()
    for knob in (0.6, 0.8):
        k = mean.index.get_level_values(0)[np.isclose(mean.index.get_level_values(0), knob)][0]
        assert mean[(k, "elimination")] < mean[(k, "bayes")] - 0.1
    assert "(0.55 and 0.34 of the choices against 0.68 and 0.75" in PROSE
    at06 = states[np.isclose(states["knob"], 0.6)]
    lo, hi = at06["agent"].min(), at06["agent"].max()
    assert f"in {_pct(lo)[:-1]}-{_pct(hi)} of the choices" in PROSE
    assert (at06["bayes"] == 1).all() and (at06["count"] == 0).all()
    assert set(at06["lamp_misses"]) == {2, 3}  # "after its second or third miss"
    lo, hi = at06["agent_oldest"].min(), at06["agent_oldest"].max()
    assert f"{_pct(lo)[:-1]}-{_pct(hi)} of the time when the lamp's colour is the one" in PROSE
    other = at06[at06["decisions_not_oldest"] >= 50]["agent_not_oldest"]
    assert f"and {_pct(other.min())[:-1]}-{_pct(other.max())} otherwise" in PROSE
    assert len(other) == 3 and other.max() < lo  # order decides: every split state, both ways


@pytest.mark.parametrize("lamp, returns", [(1 / 3, [0, 0]), (0.6, [1, 0]), (0.8, [1, 1])])
def test_the_bayesian_numbers_the_prose_gives(lamp, returns):
    assert persistence(cue_prior(lamp), 8, 0.5)[:2] == returns
    assert "(0, 1, 1 after one miss; 0, 0, 1 after two)" in PROSE


def test_the_posteriors_values_and_tie_breaks_the_prose_gives():
    np.testing.assert_allclose(posterior(cue_prior(0.8), (3, 0, 0), 0.5), [1 / 3] * 3)
    assert advantage(cue_prior(0.8), (3, 0, 0), 5, 0.5) == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(posterior(cue_prior(0.8), (4, 0, 0), 0.5), [0.2, 0.4, 0.4])
    gaps = {"0.125": (0.6, (0, 0, 0), 8), "0.06": (0.8, (2, 0, 0), 6)}
    for text, (lamp, state, left) in gaps.items():
        assert f"{advantage(cue_prior(lamp), state, left, 0.5):.3g}".startswith(text.rstrip("0"))
    assert advantage(cue_prior(0.8), (4, 0, 0), 4, 0.5) == pytest.approx(-0.1)
    assert advantage(cue_prior(1 / 3), (1, 0, 0), 7, 0.5) == pytest.approx(-0.1)
    assert "is worth 0.125 payments per episode" in PROSE and "at 0.8 (0.06)" in PROSE
    assert "leaving after four misses at 0.8 is worth 0.10" in PROSE
    lying = (cue_prior(0.8), cue_prior(0.0), 8, 0.5)
    split = first_trial(curves(*lying)["first"])
    sticky = first_trial(curves(*lying, learner="bayes-lamp-ties")["first"])
    assert f"{split:.2f} with the tie split evenly, {sticky:.2f} if broken toward" in PROSE
