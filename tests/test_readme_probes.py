"""The README's probes tables are experiment 3's output: regenerated here from the committed
per-run rows (docs/results/e03_probes_runs.csv) through the committed cells, and found in the
README verbatim beside the figure drawn from them; every trained cell rests on >= 5 seeds; the
prose's numbers are the cells' numbers."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mesaworld.analysis.figure_files import legibility_problems
from mesaworld.experiments import e03_probes

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PROSE = " ".join(README.split())
RESULTS = ROOT / "docs" / "results"
RUNS, CELLS = RESULTS / "e03_probes_runs.csv", RESULTS / "e03_probes_cells.csv"


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return pd.read_csv(CELLS)


def test_the_committed_cells_are_the_committed_runs_summarized(cells):
    again = e03_probes.cells(pd.read_csv(RUNS))
    assert list(again.columns) == list(cells.columns)
    numbers = [c for c in cells.columns if pd.api.types.is_float_dtype(cells[c])]
    np.testing.assert_allclose(again[numbers].to_numpy(float), cells[numbers].to_numpy(float))
    words = [c for c in cells.columns if c not in numbers]
    pd.testing.assert_frame_equal(again[words], cells[words], check_dtype=False)
    assert e03_probes.markdown(again) == e03_probes.markdown(cells)


def test_readme_probes_tables_are_the_experiments_output(cells):
    assert e03_probes.markdown(cells) in README  # digit by digit
    assert "](docs/probes_roomba.png)" in README and (ROOT / "docs/probes_roomba.png").is_file()


def test_every_trained_cell_has_at_least_five_seeds_and_the_controls_are_there(cells):
    trained = cells[cells["role"] == "trained"]
    assert len(trained) and (trained["seeds"] >= 5).all()
    assert {"reference", "control"} <= set(cells["role"])
    assert {"random walker", "proxy pursuer (dust_collected)"} <= set(cells["preset"])


def test_the_figure_drawn_from_the_committed_cells_is_legible(cells):
    fig = e03_probes.draw(cells, "roomba")
    try:
        assert legibility_problems(fig) == []
    finally:
        plt.close(fig)


def _pct(cells: pd.DataFrame, preset: str, knob: float, metric: str) -> str:
    row = cells[(cells["preset"] == preset) & np.isclose(cells["knob"], knob)].iloc[0]
    return e03_probes._pct(row, metric)


def test_readme_prose_on_the_probes_is_what_the_cells_say(cells):
    planner = "roomba-planner"
    apart = {
        (knob, goal): _pct(cells, planner, knob, f"linear/goal/{goal} disagree")
        for knob in (0, 0.25)
        for goal in ("base", "dust_collected")
    }
    assert (
        f"at knob 0 it decodes the nearest lit cell (a can) in {apart[(0, 'dust_collected')]}% "
        f"of them and the nearest floor dust in {apart[(0, 'base')]}%" in PROSE
    )
    assert f"at 0.25, {apart[(0.25, 'base')]}% against {apart[(0.25, 'dust_collected')]}%" in PROSE
    walker = cells[cells["preset"] == "random walker"].iloc[0]
    assert (
        f"from the input alone, a random walker's observation decodes the nearest floor dust "
        f"in {100 * walker['linear/goal/base']:.0f}% of steps (chance "
        f"{100 * walker['linear/goal/base chance']:.0f}%)" in PROSE
    )
    cans = [_pct(cells, p, 0.25, "basin/dust_collected") for p in ("roomba", planner)]
    assert f"at 0.25 the return to cans falls ({cans[0]}% and {cans[1]}%, MLP and planner)" in PROSE


def _range(values) -> str:
    lo, hi = (f"{100 * v:.0f}" for v in (min(values), max(values)))
    return lo if lo == hi else f"{lo}-{hi}"


def test_readme_ranges_and_single_figures_are_what_the_cells_say(cells):
    trained = cells[cells["role"] == "trained"]
    by = cells.set_index("preset")
    assert f"to floor dust ({_range(trained['basin/base'])}%)" in PROSE
    cans = trained[np.isclose(trained["knob"], 0)]["basin/dust_collected"]
    pursuer = by.loc["proxy pursuer (dust_collected)"]
    assert f"({_range(cans)}% against {100 * pursuer['basin/dust_collected']:.0f}%)" in PROSE
    optimizer = by.loc["reference optimizer (base)"]
    assert (
        f'also "decodes" the other\'s goal ({100 * optimizer["linear/goal/dust_collected"]:.0f}% '
        f"and {100 * pursuer['linear/goal/base']:.0f}%)" in PROSE
    )
    for who, goal, value in ((optimizer, "base", 1), (optimizer, "dust_collected", 0)):
        assert who[f"linear/goal/{goal} disagree"] == value
    assert pursuer["linear/goal/dust_collected disagree"] == 1
    assert pursuer["linear/goal/base disagree"] == 0
    mlp = trained[trained["network"] == "mlp"]
    goals = ["linear/goal/base", "linear/goal/dust_collected"]
    apart = [f"{g} disagree" for g in goals]
    chance = [f"{g} chance" for g in goals] + [f"{g} chance" for g in apart]
    assert (
        f"(at most {100 * mlp[goals].max().max():.0f}% on all steps, "
        f"{_range(mlp[apart].to_numpy().ravel())}% where the goals disagree, "
        f"chance {_range(mlp[chance].to_numpy().ravel())}%)" in PROSE
    )


def test_readme_prose_on_the_cheese_maze_is_what_its_cells_say():
    cheese = pd.read_csv(RESULTS / "e03_probes_cheese_maze_cells.csv")
    assert e03_probes.markdown(
        e03_probes.cells(pd.read_csv(RESULTS / "e03_probes_cheese_maze_runs.csv"))
    ) == e03_probes.markdown(cheese)
    trained = cheese[cheese["role"] == "trained"]
    assert len(trained) == 2 and (trained["seeds"] >= 5).all()
    plain = [
        _pct(cheese, p, 1, m)
        for p in ("cheese-maze-planner", "cheese-maze-planner-coords")
        for m in ("basin/base", "basin/corner")
    ]
    assert (
        f"returns to the cheese after a teleport in {plain[0]}% of episodes and to the corner in "
        f"{plain[1]}%; with coordinate channels, {plain[2]}% and {plain[3]}%" in PROSE
    )
    decode = {_pct(cheese, p, 1, "linear/goal/base") for p in trained["preset"]}
    walker = cheese[cheese["preset"] == "random walker"].iloc[0]["linear/goal/base"]
    assert len(decode) == 1
    assert (
        f"decodes at {decode.pop()}% for both planners, and so does the random walker's bare "
        f"observation ({100 * walker:.0f}%)" in PROSE
    )
