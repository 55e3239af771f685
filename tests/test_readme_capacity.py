"""The README's e09 table (approximate alignment from a representational limit) is the
experiment's own output: regenerated here from the cells it wrote (committed under
docs/results/, with the per-run rows they are the means of), beside its figure; and the numbers
its prose cites are what those files say."""

from pathlib import Path

import pandas as pd
import pytest

from mesaworld.analysis.figure_files import legibility_problems
from mesaworld.experiments import e09_capacity

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PROSE = " ".join(README.split())
RESULTS = ROOT / "docs" / "results"


def _runs() -> pd.DataFrame:
    return pd.read_csv(RESULTS / e09_capacity.RUNS)


def _cells() -> pd.DataFrame:
    return pd.read_csv(RESULTS / e09_capacity.CELLS)


def test_the_readme_table_is_the_experiments_output():
    assert e09_capacity.markdown(_cells()) in README
    assert "](docs/capacity.png)" in README and (ROOT / "docs/capacity.png").is_file()
    assert "python -m mesaworld.experiments.e09_capacity --workers 1" in README


def test_the_cells_are_the_means_of_the_committed_runs_at_five_seeds_each():
    runs, cells = _runs(), _cells()
    assert (cells["seeds"] >= 5).all() and list(cells["reward_layers"]) == [1, 2, 3, 4, 5]
    assert (runs.groupby("reward_layers")["seed"].nunique() >= 5).all()
    pd.testing.assert_frame_equal(e09_capacity.cells(runs), cells, check_dtype=False)


def test_the_figure_is_legible_from_the_committed_cells(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    drawn = {}
    monkeypatch.setattr(e09_capacity, "save_figure", lambda fig, path: drawn.setdefault("f", fig))
    e09_capacity.figure(_cells(), tmp_path / "capacity")
    try:
        assert legibility_problems(drawn["f"]) == []
        text = " ".join(t.get_text() for t in drawn["f"].findobj(plt.Text))
        assert "n = 5" in text and "95% t-interval over seeds" in text and "Signpost" in text
    finally:
        plt.close(drawn["f"])


def test_the_prose_is_what_the_runs_say():
    runs, cells = _runs(), _cells().set_index("reward_layers")
    seen = cells["train/auc/sign/seen"]
    assert f"(AUC {seen.min():.2f}-{seen.max():.2f} per capacity)" in PROSE
    beyond = [r[f"train/auc/sign/d{d}"] for _, r in runs.iterrows()
              for d in e09_capacity.DISTANCES if d > r["reward_layers"]]  # fmt: skip
    assert len(beyond) == 5 * (4 + 3 + 2 + 1)
    assert f"between {min(beyond):.2f} and {max(beyond):.2f} on every run" in PROSE
    every = ", ".join(f"{v:.2f}" for v in cells["train/auc/sign/all"])
    assert f"rises with capacity, {every}, close to" in PROSE
    edge = ", ".join(f"{cells.loc[n, f'train/auc/sign/d{n}']:.2f}" for n in (3, 4))
    assert f"(AUC there {edge} and {cells.loc[5, 'train/auc/sign/d5']:.2f} for L = 3, 4, 5" in PROSE
    assert f"cleans {100 * cells.loc[1, 'train/unsigned']:.0f}% of the unsigned dust" in PROSE
    train = cells["train/score/learned"]
    assert f"(train base score {train[1]:.2f}, against {train[5]:.2f} at L = 5)" in PROSE
    score, share = cells["deploy/score/learned"], cells["deploy/unsigned"]
    assert f"from {score[1]:.2f} at L = 1 to {score[5]:.2f} at L = 5" in PROSE
    assert f"falls from {100 * share[1]:.0f}% to {100 * share[5]:.0f}%" in PROSE
    exact = cells["deploy/cost/exact"]
    lo, hi = cells.loc[1, "deploy/cost/exact:lo"], cells.loc[1, "deploy/cost/exact:hi"]
    assert f"gains {exact[1]:.2f} [{lo:.2f}, {hi:.2f}] of the deploy base score" in PROSE
    assert f"from L = 3 on ({exact[3]:.2f}, {exact[4]:.2f}, {exact[5]:.2f})" in PROSE
    assert (exact[[3, 4, 5]] < 0.05).all() and cells.loc[5, "deploy/cost/exact:hi"] < 0
    fix = cells["deploy/cost/no proxy"]
    assert f"gains {fix[1]:.2f} at L = 1 and {fix[2:].min():.2f}-{fix[2:].max():.2f}" in PROSE


def test_the_longer_budget_table_and_prose_are_what_its_runs_say():
    cells = pd.read_csv(RESULTS / "e09_capacity_600k_cells.csv")
    runs = pd.read_csv(RESULTS / "e09_capacity_600k_runs.csv")
    assert len(cells) == 1 and cells["seeds"].iloc[0] >= 5 and runs["seed"].nunique() >= 5
    # 0.6M and 0.3M steps, in whole updates of 256 envs x 32 steps
    assert set(runs["total_steps"]) == {598_016} and set(_runs()["total_steps"]) == {294_912}
    pd.testing.assert_frame_equal(e09_capacity.cells(runs), cells, check_dtype=False)
    assert e09_capacity.markdown(cells) in README
    long, short = cells.iloc[0], _cells().set_index("reward_layers").loc[5]
    d5 = "train/auc/sign/d5"
    assert f"(its AUC {short[d5]:.2f} there, {long[d5]:.2f} [{long[d5 + ':lo']:.2f}, " in PROSE
    score, share = "deploy/score/learned", "deploy/unsigned"
    assert f"goes from {short[score]:.2f} to {long[score]:.2f} and the" in PROSE
    assert f"cleaned from {100 * short[share]:.0f}% to {100 * long[share]:.0f}%" in PROSE


@pytest.mark.slow
def test_a_committed_run_measures_to_its_committed_row(tmp_path):
    """The per-run row is what e09 measures from the committed run folder (seed 1 at L = 2)."""
    run = next((RESULTS / "sweeps/e09_capacity/L2").glob("*_seed1"))
    row = e09_capacity._per_run(run, tmp_path, 2, 200)
    committed = _runs().set_index(["reward_layers", "seed"]).loc[(2, 1)]
    for m in e09_capacity.METRICS:
        assert row[m] == pytest.approx(committed[m], abs=1e-9, nan_ok=True), m
