"""The readout scale anchored by planners trained on known reward mixtures (issue 24, item 3),
from committed data: roomba-planner at can_fraction 0.25 trained on (1 - w) * base +
w * dust_collected, w in {0, 0.25, 0.5, 0.75, 1}, 5 seeds each (w = 0: the committed
roomba-planner sweep; the others: docs/results/sweeps/roomba-planner-mix), each run's deploy
ratio read by `mesaworld readout`. The README's anchor table and its Spearman correlation
regenerate from those files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mesaworld.experiments.instruments.readout_anchors import (
    anchor_table,
    anchored_position,
    monotonicity,
)

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "docs" / "results" / "sweeps"
RATIO = "deploy/ratio/dust_collected"


def proxy_weight(reward: str) -> float:
    parts = dict(p.split(":") for p in str(reward).split(",")) if ":" in str(reward) else {}
    if not parts:
        return 0.0  # "base": the task's own reward
    weights = {k: float(v) for k, v in parts.items()}
    return weights.get("dust_collected", 0.0) / sum(weights.values())


def mixture_runs() -> pd.DataFrame:
    frames = []
    for folder in ("roomba-planner", "roomba-planner-mix"):
        df = pd.read_csv(SWEEPS / folder / "readout" / "readout.csv")
        frames.append(df[df["knob"] == 0.25])
    runs = pd.concat(frames, ignore_index=True)
    runs["w"] = runs["reward"].map(proxy_weight)
    runs["ratio"] = runs[RATIO]
    return runs


def anchor_rows() -> tuple[list[str], float]:
    runs = mixture_runs()
    table = anchor_table(runs)
    aligned, proxy = (float(table.loc[table["w"] == w, "mean"].iloc[0]) for w in (0.0, 1.0))
    rows = []
    for r in table.itertuples(index=False):
        pos = float(anchored_position(r.mean, aligned, proxy))
        rows.append(f"| {r.w:g} | {r.seeds} | {r.mean:.2f} [{r.lo:.2f}, {r.hi:.2f}] | {pos:.2f} |")
    return rows, monotonicity(runs)


def test_every_weight_has_five_seeds():
    runs = mixture_runs()
    counts = runs.groupby("w").size()
    assert sorted(counts.index) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (counts == 5).all(), counts


def test_the_anchor_table_is_in_the_readme_as_computed():
    rows, rho = anchor_rows()
    readme = (ROOT / "README.md").read_text()
    for row in rows:
        assert row in readme, row
    assert f"Spearman {rho:.2f}" in readme
    # the knob-0 planners (base reward, no cans in training) placed on the anchored scale
    table = anchor_table(mixture_runs())
    aligned, proxy = (float(table.loc[table["w"] == w, "mean"].iloc[0]) for w in (0.0, 1.0))
    knob0 = pd.read_csv(SWEEPS / "roomba-planner" / "readout" / "readout.csv")
    ratio = float(knob0.loc[knob0["knob"] == 0, RATIO].mean())
    assert f"sit at position {float(anchored_position(ratio, aligned, proxy)):.2f}" in readme


if __name__ == "__main__":
    rows, rho = anchor_rows()
    print("\n".join(rows), f"\nSpearman {rho:.2f}")


def _ci(row, m: str, pct: bool = True) -> str:
    f = (lambda v: f"{100 * v:.0f}") if pct else (lambda v: f"{v:.2f}")
    return f"{f(row[m])}{'%' if pct else ''} [{f(row[m + ':lo'])}, {f(row[m + ':hi'])}]"


def test_the_planner_paragraphs_numbers_are_the_committed_sweeps():
    """The prose above the anchor table: train and deploy floor, cans emptied, PA index and
    labels of the knob-0 and knob-0.25 planners (`mesaworld plot` on the committed sweep, i.e.
    `gap_table`), and seed 3's ratio and position."""
    from mesaworld.analysis.metrics import gap_table, run_summary
    from mesaworld.analysis.runs import load_runs

    t = gap_table(run_summary(load_runs(SWEEPS / "roomba-planner")), "roomba-planner")
    t = t[t["role"] == "trained"].set_index(["knob", "split"])
    prose = " ".join((ROOT / "README.md").read_text().split())
    k0, k25 = t.loc[(0.0, "deploy")], t.loc[(0.25, "deploy")]
    said = [
        f"train floor {_ci(t.loc[(0.0, 'train')], 'norm/base')}; deploy floor "
        f"{_ci(k0, 'norm/base')}, cans emptied {_ci(k0, 'behaviour')}, PA index "
        f"{_ci(k0, 'pai', pct=False)}: **goal misgeneralization (dust_collected) 5/5**",
        f"deploy floor {_ci(k25, 'norm/base')}, cans emptied {_ci(k25, 'behaviour')}, PA index "
        f"{_ci(k25, 'pai', pct=False)}, labels *generalizes 2/5, uncertain 2/5, goal "
        "misgeneralization 1/5*",
    ]
    for s in said:
        assert s in prose, s
    assert k25["label"] == (
        "generalizes 2/5, uncertain: generalizes / goal misgeneralization (dust_collected) 2/5, "
        "goal misgeneralization (dust_collected) 1/5"
    )
    runs = mixture_runs()
    table = anchor_table(runs)
    aligned, proxy = (float(table.loc[table["w"] == w, "mean"].iloc[0]) for w in (0.0, 1.0))
    seed3 = runs[(runs["w"] == 0) & (runs["run"].str.endswith("seed3"))]["ratio"]
    (ratio,) = seed3
    pos = float(anchored_position(ratio, aligned, proxy))
    assert f"(seed 3, ratio {ratio:.2f}) sits at {pos:.2f}" in prose
