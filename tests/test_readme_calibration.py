"""The README's noisy-planner calibration of the reward-result gap regenerates from committed
data: `python benchmarks/gap_calibration.py --out docs/results/calibration/noisy` (scripted
planners with a known goal, actions randomized with probability epsilon, analysed by
`mesaworld analyze`), its table rows and labels from the committed behavioral.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
