"""The README's noisy-planner calibration of the reward-result gap regenerates from committed
data: `python benchmarks/gap_calibration.py --out docs/results/calibration/noisy` (scripted
planners with a known goal, actions randomized with probability epsilon, analysed by
`mesaworld analyze`), its table rows and labels from the committed behavioral.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mesaworld.envs.registry import get_task

ROOT = Path(__file__).parents[1]
NOISY = ROOT / "docs" / "results" / "calibration" / "noisy"
SHORT = {"cheese-maze": "cheese", "coin": "coin", "keys-chests": "keys", "supervisor": "supervisor"}


def noisy_rows() -> list[str]:
    """The README rows: per planner, the gap scores base / proxy at epsilon 0, 0.3 and 0.5, then
    at 0.8 the agent's own scores, the gap scores and the label shown."""
    runs = pd.read_csv(NOISY / "analysis" / "behavioral.csv").copy()
    runs["planner"] = runs["agent"].str.replace(r" \(epsilon .*\)$", "", regex=True)
    runs["eps"] = runs["agent"].str.extract(r"epsilon ([0-9.]+)")[0].astype(float)
    out = []
    for (task, planner), g in runs.groupby(["task", "planner"], sort=False):
        proxy = get_task(task).proxies[0]
        g = g.set_index("eps")

        def pair(eps, kind="gap_boltzmann", g=g, proxy=proxy):
            return f"{g.loc[eps, f'{kind}/base']:.2f} / {g.loc[eps, f'{kind}/{proxy}']:.2f}"

        cells = [pair(e) for e in (0.0, 0.3, 0.5)]
        last = f"{pair(0.8, 'score')}; {pair(0.8)}; {g.loc[0.8, 'shown']}"
        out.append(f"| {SHORT[task]}, {planner} | " + " | ".join(cells) + f" | {last} |")
    return out


def test_the_noisy_planner_table_is_the_readmes():
    readme = (ROOT / "README.md").read_text()
    rows = noisy_rows()
    assert len(rows) == 8
    for row in rows:
        assert row.replace("-0.00", "0.00") in readme.replace("-0.00", "0.00"), row


MIXTURE = ROOT / "docs" / "results" / "calibration" / "mixture"
MIX_NAMES = {
    "coin": "coin (end, 1)",
    "cheese-maze": "cheese maze (corner, 11)",
    "keys-chests": "keys and chests (keys, 1)",
    "roomba": "Roomba (dust_collected, 1)",
}


def test_the_mixture_table_is_the_readmes_and_the_gap_never_rises():
    """`python benchmarks/mixture_calibration.py --out docs/results/calibration/mixture`: PPO on
    (1 - w) base + w proxy, one seed per weight; the gap row per task and the train-score
    ranges the README quotes."""
    from benchmarks.mixture_calibration import monotone, table

    t = table(pd.read_csv(MIXTURE / "analysis" / "behavioral.csv").copy())
    readme = (ROOT / "README.md").read_text()
    for task, g in t.groupby("task"):
        g = g.sort_values("w")
        assert list(g["w"]) == [0, 0.25, 0.5, 0.75, 1]
        cells = [f"{v:.2f}" for v in g["gap"]]
        cells[0], cells[-1] = f"**{cells[0]}**", f"**{cells[-1]}**"
        row = f"| {MIX_NAMES[task]} | " + " | ".join(cells) + " |"
        assert row.replace("-0.00", "0.00") in readme.replace("-0.00", "0.00"), row
    assert monotone(t).all()
    cheese = t[t.task == "cheese-maze"]["train score"]
    assert f"train score {cheese.min():.2f}-{cheese.max():.2f} on the cheese maze" in readme
    roomba = t[t.task == "roomba"]["train score"]
    assert f"train score {roomba.min():.2f}-{roomba.max():.2f}" in readme
    coin = t[t.task == "coin"]
    assert coin[coin.w == 1]["label"].iloc[0] == "specification gaming (end)"


def sensitivity_table(path: Path, cell_of) -> str:
    """The label-sensitivity table of an analysed folder (every threshold moved by its step)."""
    from mesaworld.analysis.behavioral import labellers
    from mesaworld.analysis.labels import sensitivity, sensitivity_markdown

    rows = pd.read_csv(path)
    cells = {r["run"]: cell_of(r) for _, r in rows.iterrows()}
    return sensitivity_markdown(sensitivity(labellers(rows), cells, unused=("pai_pursued",)))


@pytest.mark.parametrize("folder", [NOISY, MIXTURE], ids=["noisy", "mixture"])
def test_the_label_sensitivity_beside_each_table_is_the_readmes(folder: Path):
    table = sensitivity_table(folder / "analysis" / "behavioral.csv", lambda r: r["run"])
    assert table in (ROOT / "README.md").read_text()
