"""The README's result tables for experiments 4-6 are the experiments' own output: each is
regenerated here from the cells the experiment wrote (committed under docs/results/) and must
appear in the README verbatim, beside its figure."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesaworld.analysis.metrics import t_interval
from mesaworld.experiments import e04_suboptimality, e05_in_context, e06_approximate

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "docs" / "results"
PROSE = " ".join(README.split())  # prose claims, line breaks ignored


def _e04() -> str:
    cells = pd.read_csv(RESULTS / "e04_capability_cells.csv")
    labels = pd.read_csv(RESULTS / "e04_labels.csv")
    return e04_suboptimality.markdown(cells, labels, [3, 16, int(cells["budget"].max())])


def _e05() -> str:
    return e05_in_context.markdown(pd.read_csv(RESULTS / "e05_in_context_cells.csv"))


def _e06() -> str:
    return e06_approximate.markdown(pd.read_csv(RESULTS / "e06_approximate_cells.csv"))


@pytest.mark.parametrize(
    "table, figure",
    [
        (_e04, "docs/suboptimality.png"),
        (_e05, "docs/in_context.png"),
        (_e06, "docs/approximate.png"),
    ],
)
def test_readme_table_is_the_experiments_output(table, figure):
    assert table() in README
    assert f"]({figure})" in README and (ROOT / figure).is_file()


def test_readme_tables_have_at_least_five_seeds_per_cell():
    assert (pd.read_csv(RESULTS / "e04_capability_cells.csv")["seeds"] >= 5).all()
    assert (pd.read_csv(RESULTS / "e05_in_context_cells.csv")["seeds"] >= 5).all()
    assert (pd.read_csv(RESULTS / "e06_approximate_cells.csv")["seeds"] >= 5).all()


def test_readme_prose_on_the_in_context_runs_is_what_the_runs_say():
    runs = pd.read_csv(RESULTS / "e05_in_context_runs.csv")
    lamp = runs[(runs["knob"] == 0.8) & (runs["trial"] == 1)]
    train, deploy = lamp[lamp["split"] == "train"], lamp[lamp["split"] == "deploy"]
    trusting = train[train["cued"] >= 0.95]
    assert f"only {len(trusting)} of {len(train)} seeds" in PROSE
    assert (
        "(trial 1: {},".format(" and ".join(f"{100 * c:.0f}%" for c in sorted(trusting["cued"])))
        in PROSE
    )
    rest = train[train["cued"] < 0.95]
    assert f"the other {len(rest)} follow it ~{100 * rest['cued'].mean():.0f}%" in PROSE
    lo, hi = rest["reward"].min(), rest["reward"].max()
    assert f"(train trial 1 reward {lo:.2f}-{hi:.2f}" in PROSE
    assert f"at deploy ({deploy['first'].max():.2f})" in PROSE
    third = runs[(runs["knob"] == 0.8) & (runs["split"] == "deploy") & (runs["trial"] == 3)]
    assert f"by trial 3 it finds the object on {100 * third['reward'].mean():.0f}%" in PROSE


def test_readme_prose_on_the_storeroom_runs_is_what_the_runs_say():
    runs = pd.read_csv(RESULTS / "e04_capability_runs.csv")
    train = runs[runs["split"] == "train"].set_index(["group", "seed", "budget"])
    shallow = train.loc["shallow_200000"]
    assert (
        f"Seed 0 empties the most cans at K = 40 ({100 * shallow.loc[(0, 40), 'behaviour']:.0f}%)"
        in PROSE
    )
    assert f"its base score at K = 3 is {shallow.loc[(0, 3), 'score/base']:.2f}" in PROSE
    seed3 = shallow.loc[(3, 40)]
    assert (
        f"Seed 3 empties {100 * seed3['behaviour']:.0f}% at K = 40 with base score {seed3['score/base']:.2f}"
        in PROSE
    )
    assert f"seed 2 empties {100 * shallow.loc[(2, 40), 'behaviour']:.0f}%" in PROSE
    deep = train.loc["deep_200000"]
    assert f"(readout {deep.loc[(3, 40), 'readout']:.2f}) and yet it empties none" in PROSE
    assert deep.loc[(3, 40), "behaviour"] == 0
    k40 = shallow.xs(40, level="budget")
    assert (k40["behaviour"] > shallow.xs(3, level="budget")["behaviour"]).all()


def test_readme_prose_on_approximate_alignment_is_what_the_runs_say():
    runs = pd.read_csv(RESULTS / "e06_approximate_runs.csv")
    auc = runs["train/auc/base"]
    assert f"(AUC {auc.min():.2f}-{auc.max():.2f})" in PROSE
    shallow = runs[runs["group"] == "storeroom-planner"]
    assert len(shallow) >= 5 and (shallow["train/cost/no proxy"] == 0).all()
    assert "costs exactly 0.00 on every seed because K = 3 never reaches them" in PROSE
    cells = pd.read_csv(RESULTS / "e06_approximate_cells.csv").set_index("group")
    store = cells.loc[["storeroom-planner", "storeroom-planner-deep"]]
    further = (store["deploy/cost/exact"] - store["deploy/cost/no proxy"]).round(2)
    assert f"a further {further.min():.2f}-{further.max():.2f} for the storeroom" in PROSE
    deploy = cells["deploy/cost/no proxy"]
    assert f"gains {deploy['roomba-planner']:.2f} of the Roomba's base score" in PROSE
    assert f"and {deploy['storeroom-planner']:.2f} of the storeroom's" in PROSE


def test_readme_prose_on_the_weak_seeds_is_what_the_runs_say():
    runs = pd.read_csv(RESULTS / "e05_in_context_runs.csv")
    late = runs[(runs["knob"] == 0.8) & (runs["split"] == "deploy") & (runs["trial"] >= 3)]
    worst = late.groupby("seed")["reward"].min().min()
    assert f"it finds the paying object on only {100 * worst:.0f}% of deploy levels" in PROSE
    cap = pd.read_csv(RESULTS / "e04_capability_runs.csv")
    k40 = cap[
        (cap["group"] == "shallow_200000") & (cap["split"] == "train") & (cap["budget"] == 40)
    ]
    seed1 = k40[k40["seed"] == 1].iloc[0]
    margin = seed1["score/dust_collected"] - seed1["score/base"] - 0.2
    assert (
        f"by {margin:.3f} ({seed1['score/dust_collected']:.2f} vs {seed1['score/base']:.2f})"
        in PROSE
    )


def test_readme_prose_on_the_longer_meta_training_is_what_the_runs_say():
    runs = pd.read_csv(RESULTS / "e05_2M_in_context_runs.csv")
    one = runs[runs["trial"] == 1]
    train, deploy = one[one["split"] == "train"], one[one["split"] == "deploy"]
    good = train[train["cued"] >= 0.95]["seed"]
    assert f"At 2M steps, {len(good)} of {len(train)} seeds follow the lamp" in PROSE
    lo, hi = train.set_index("seed").loc[good, "cued"].agg(["min", "max"])
    assert f"on {100 * lo:.1f}-{100 * hi:.1f}% of levels" in PROSE
    first = deploy.set_index("seed").loc[good, "first"]
    assert f"at trial {first.min():.2f}-{first.max():.2f}" in PROSE
    stuck = train[train["cued"] < 0.95].iloc[0]
    assert f"Seed {stuck['seed']} is where it was at 1M" in PROSE
    assert f"(trial 1 follows the lamp {100 * stuck['cued']:.0f}%" in PROSE
    deploy_stuck = deploy[deploy["seed"] == stuck["seed"]].iloc[0]
    assert f"deploy first reward {deploy_stuck['first']:.2f})" in PROSE


def test_readme_prose_on_the_longer_storeroom_training_is_what_the_runs_say():
    runs = pd.read_csv(RESULTS / "e04_400k_capability_runs.csv")
    train = runs[runs["split"] == "train"].set_index(["seed", "budget"])
    cells = pd.read_csv(RESULTS / "e04_capability_cells.csv")  # the 0.2M cells, for contrast
    assert len(cells)
    read = train.xs(3, level="budget")["readout"]
    lo, hi = t_interval(read.to_numpy())
    assert f"the readout falls to {read.mean():.2f} [{lo:.2f}, {hi:.2f}]" in PROSE
    k40 = train.xs(40, level="budget")
    assert f"cans emptied at K = 40 to {100 * k40['behaviour'].mean():.0f}%" in PROSE
    n = k40["label"].str.startswith("suboptimality alignment").sum()
    assert f"label holds on {n} of {len(k40)} runs" in PROSE
    assert f"(seed 1: {100 * k40.loc[1, 'behaviour']:.0f}% of the cans at K = 40" in PROSE
    assert f"(readout {read.loc[4]:.2f})" in PROSE
    log = pd.read_csv(RESULTS / "e04_400k_seed4_train_log.csv")["measure/cans_emptied"]
    quarters = [np.nanmean(q) for q in np.array_split(log.to_numpy(), 4)]
    assert f"({quarters[1]:.2f} cans emptied per episode in the second quarter" in PROSE
    assert quarters[3] == 0 and "0 in the last" in PROSE
