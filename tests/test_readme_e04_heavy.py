"""The README's third storeroom design (`storeroom-heavy`, trained at K = 10 by `e04_trained_k
--preset storeroom-heavy-planner`) from its committed capability rows: the table and its label
sensitivity as the script prints them, and every number of the prose (issue 24, item 5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from mesaworld.experiments.e04_suboptimality import label_sensitivity
from mesaworld.experiments.e04_trained_k import main, markdown

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ROOT / "docs/results/e04_heavy_capability_runs.csv"
ROWS = pd.read_csv(HEAVY)
K10 = pd.read_csv(ROOT / "docs/results/e04_k10_capability_runs.csv")
README = (ROOT / "README.md").read_text()
PROSE = " ".join(README.split())
SA = "suboptimality alignment (dust_collected)"


def _at(rows: pd.DataFrame, k: int) -> pd.DataFrame:
    train = rows[rows["split"] == "train"]
    return train[train["budget"] == k].set_index(["total_steps", "seed"])


def test_the_table_and_sensitivity_are_the_scripts_output(tmp_path, capsys):
    printed = markdown(ROWS) + "\n\n" + label_sensitivity(ROWS)
    assert printed in README
    assert main(["--from-runs", str(HEAVY), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == printed
    assert set(ROWS["seed"]) == set(range(5)) and set(ROWS["total_steps"]) == {196_608, 393_216}


def test_the_defection_and_the_readout_numbers_are_the_rows():
    at10, at40 = _at(ROWS, 10), _at(ROWS, 40)
    first = at40.loc[196_608]
    cans = f"{round(100 * first['behaviour'].min())}-{round(100 * first['behaviour'].max())}%"
    assert f"empty {cans} of the cans on every 0.2M-step run" in PROSE
    proxy = first["score/dust_collected"]
    assert f"(proxy score {proxy.min():.2f}-{proxy.max():.2f}, base score below 0)" in PROSE
    assert (first["score/base"] < 0).all()
    assert (at10.loc[196_608]["behaviour"] == 0).sum() == 4  # "four of the five empty none"
    read = at40["readout"]  # on train levels' start observations, as the table's column
    assert f"{read.min():.1f}-{read.max():.0f} times floor dust" in PROSE
    other = _at(K10, 40)["readout"]
    assert f"against {other.min():.2f} to {other.max():.2f} on the K = 10 runs" in PROSE
    pooled = []
    for steps in (196_608, 393_216):
        both = pd.concat([_at(ROWS, 40).loc[steps], _at(K10, 40).loc[steps]])
        assert len(both) == 10
        pooled.append(f"{spearmanr(both['readout'], both['behaviour']).statistic:.2f}")
    assert f"is {pooled[0]} (0.2M) and {pooled[1]} (0.4M)" in PROSE
    within = []
    for steps in (196_608, 393_216):
        top = at40.loc[steps]
        within.append(f"{spearmanr(top['readout'], top['behaviour']).statistic:.2f}")
    assert f"within this design the correlation is {within[0]} and {within[1]} over 5 runs" in PROSE
    late = at40.loc[393_216]
    rank = late["readout"].rank()
    assert late["behaviour"].idxmin() == 0 and rank[0] not in (1, 5)  # "a middling readout"
    seed4 = at10.loc[(196_608, 4)]
    assert seed4["label"] == "undertrained"
    assert f"(seed 4, {seed4['readout']:.0f} times dust) already empties" in PROSE
    assert f"{round(100 * seed4['behaviour'])}% of them at K = 10" in PROSE


def test_the_label_counts_as_set_and_under_the_rule():
    labels = _at(ROWS, 10)["label"]
    firm = (labels == SA).groupby(level=0).sum()
    assert list(firm) == [1, 2]
    assert "holds on 1 of 5 runs at 0.2M and 2 of 5 at 0.4M" in PROSE
    # as set: the label the uncertain ones name first (or the firm one)
    as_set = labels.str.replace("uncertain: ", "").str.split(" / ").str[0]
    assert list((as_set == SA).groupby(level=0).sum()) == [4, 4]
    assert "4 of 5 runs are labelled suboptimality alignment at 0.2M and 4 of 5 at 0.4M" in PROSE
    flipped = _at(ROWS, 10)[
        labels.str.startswith("uncertain") & labels.str.endswith("undertrained")
    ]
    base = flipped["score/base"]
    assert f"flips score {base.min():.2f}-{base.max():.2f} on base at K = 10" in PROSE
    seed0 = _at(ROWS, 40).loc[(393_216, 0)]
    assert seed0["score/base"] < 0.5 and seed0["score/dust_collected"] < 0.5
    assert f"empties only {round(100 * seed0['behaviour'])}% of the cans at K = 40" in PROSE


SHARP = ROOT / "docs/results/e04_heavy_sharp_capability_runs.csv"


def test_the_sharp_designs_table_and_prose_are_its_rows(tmp_path, capsys):
    """`e04_trained_k --preset storeroom-heavy-planner-sharp`: the table and sensitivity as
    printed, and the reading under it."""
    rows = pd.read_csv(SHARP)
    printed = markdown(rows) + "\n\n" + label_sensitivity(rows)
    assert printed in README
    assert main(["--from-runs", str(SHARP), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == printed
    at10, at40 = _at(rows, 10), _at(rows, 40)
    firm = (at10["label"] == SA).groupby(level=0).sum()
    assert list(firm) == [3, 4, 5]
    assert "(4 of 5, then 5 of 5), not at the preset's 0.2M (3 of 5)" in PROSE
    last10, last40 = at10.loc[794_624], at40.loc[794_624]
    base8, cans8 = last10["score/base"], last40["behaviour"]
    assert (last10["behaviour"] == 0).all()
    said = (
        f"(base score {base8.min():.3f}-{base8.max():.2f} at K = 10, no can emptied there, "
        f"{round(100 * cans8.min())}-{round(100 * cans8.max())}% of the cans at K = 40)"
    )
    assert said in PROSE, said
    late10, late40 = at10.loc[393_216], at40.loc[393_216]
    good = late10[late10["label"] == SA]
    base = good["score/base"]
    assert f"(base score {base.min():.3f}-{base.max():.2f} at K = 10, no can emptied there" in PROSE
    assert (good["behaviour"] == 0).all()
    cans = late40.loc[good.index, "behaviour"]
    said = (
        f"empty {round(100 * cans.min())}-{round(100 * cans.max())}% of the cans, floor dust left"
    )
    assert said in PROSE, said
    seed3 = at10.loc[(196_608, 3)]
    assert seed3["label"] == f"uncertain: {SA} / undertrained"
    assert f"(seed 3's base score {seed3['score/base']:.3f} is moved" in PROSE
    s4 = at10.xs(4, level="seed")
    read = at40.xs(4, level="seed")["readout"]
    assert (at40.groupby(level=0)["readout"].idxmax().map(lambda k: k[1]) == 4).all()
    read = read.loc[[196_608, 393_216]]
    assert f"values a can at {read.min():.0f}-{read.max():.0f} times floor dust" in PROSE
    s4 = s4.loc[[196_608, 393_216]]
    k10 = s4["behaviour"]
    assert f"empties {round(100 * k10.min())}-{round(100 * k10.max())}% of the cans" in PROSE
    b = s4["score/base"]
    assert f"(base score {b.iloc[0]:.2f}, then {b.iloc[1]:.2f})" in PROSE
    rho = [
        f"{spearmanr(at40.loc[st]['readout'], at40.loc[st]['behaviour']).statistic:.2f}"
        for st in (196_608, 393_216, 794_624)
    ]
    assert f"(rank correlation {rho[0]}, {rho[1]} and {rho[2]} over 5 runs)" in PROSE
