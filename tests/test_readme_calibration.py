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


SCRIPTED = ROOT / "docs" / "results" / "calibration" / "scripted"
NAMES = {
    "coin": "coin (end)",
    "cheese-maze": "cheese maze (corner)",
    "keys-chests": "keys and chests (keys)",
    "supervisor": "supervisor (watched)",
    "lava": "lava (goal)",
}


def _gain(row, column: str) -> str:
    """x1000 nats/step with its interval; a point interval is the value alone, and values below
    1 in size get one decimal."""
    v, lo, hi = (1000 * row[column + k] for k in ("", ":lo", ":hi"))
    f = (lambda x: f"{x:.1f}") if abs(v) < 1 else (lambda x: f"{x:.0f}")
    return f(v) if f(lo) == f(hi) == f(v) else f"{f(v)} [{f(lo)}, {f(hi)}]"


def scripted_rows() -> list[str]:
    """The README's table of scripted planners with a known goal (`mesaworld baselines <task>
    --root R` for five tasks, then `mesaworld analyze R --levels 20`): per planner the gap
    scores, the gap, the attribution's gain base - proxy on deploy and train, the label; the
    random agents of every task in one row of ranges."""
    runs = pd.read_csv(SCRIPTED / "analysis" / "behavioral.csv")
    out, random = [], []
    for task in NAMES:
        proxy = get_task(task).proxies[0]
        first = True
        for _, r in runs[runs["task"] == task].iterrows():
            if r["role"] == "random":
                random.append((r, proxy))
                continue
            scores = f"{r['gap_boltzmann/base']:.2f} / {r[f'gap_boltzmann/{proxy}']:.2f}"
            cells = [NAMES[task] if first else "", r["agent"], scores, f"{r[f'gap/{proxy}']:.2f}"]
            cells += [_gain(r, f"gain_diff/{proxy}"), _gain(r, f"train_gain_diff/{proxy}")]
            out.append("| " + " | ".join([*cells, r["shown"]]) + " |")
            first = False
    base = [r["gap_boltzmann/base"] for r, _ in random]
    prox = [r[f"gap_boltzmann/{p}"] for r, p in random]
    gains = [1000 * r[f"gain_diff/{p}"] for r, p in random]
    holds = all(r[f"gain_diff/{p}:lo"] <= 0 <= r[f"gain_diff/{p}:hi"] for r, p in random)
    labels = {r["shown"] for r, _ in random}
    assert len(random) == 5 and labels == {"capability failure"} and holds
    out.append(
        f"| every task | random | {min(base):.2f} to {max(base):.2f} / {min(prox):.2f} to "
        f"{max(prox):.2f} | | {min(gains):.0f} to {max(gains):.0f} (all hold 0) | | "
        "capability failure |"
    )
    return out


def test_the_scripted_planner_table_is_the_readmes():
    readme = (ROOT / "README.md").read_text()
    rows = scripted_rows()
    assert len(rows) == 10
    for row in rows:
        assert row.replace("-0.00", "0.00") in readme.replace("-0.00", "0.00"), row
    table = sensitivity_table(SCRIPTED / "analysis" / "behavioral.csv", lambda r: r["run"])
    assert table in readme


MIXTURE = ROOT / "docs" / "results" / "calibration" / "mixture"


def test_the_mixture_tables_and_sensitivity_are_the_readmes_and_the_gap_never_rises():
    """`python benchmarks/mixture_calibration.py --workers 2 --out
    docs/results/calibration/mixture`: PPO on (1 - w) base + w proxy, 5 seeds per weight; the
    printed tables (mean gap [95% t over seeds], labels with counts) and the sensitivity, and the
    prose's claims about them."""
    from benchmarks.mixture_calibration import label_sensitivity, markdown, monotone, summary, table

    rows = pd.read_csv(MIXTURE / "analysis" / "behavioral.csv")
    t = table(rows.copy())
    cells = summary(t)
    readme = (ROOT / "README.md").read_text()
    for line in [*markdown(cells).splitlines(), *label_sensitivity(rows).splitlines()]:
        assert line in readme, line
    assert set(cells["seeds"]) == {5} and len(cells) == 20
    assert monotone(t).all()
    ends = cells[cells["w"].isin([0, 1])].set_index(["task", "w"])
    for task in ends.index.get_level_values(0).unique():
        assert ends.loc[(task, 0.0), "gap:lo"] > 0 > ends.loc[(task, 1.0), "gap:hi"], task
    roomba = cells[cells["task"] == "roomba"].set_index("w")
    assert all(roomba.loc[w, "gap:lo"] < 0 < roomba.loc[w, "gap:hi"] for w in (0.25, 0.5))
    coin = t[t["task"] == "coin"]
    mid = coin[coin["w"].isin([0.5, 0.75])]
    assert (mid["score base"] == 1).all() and (mid["score proxy"] == 1).all()
    assert (coin[coin["w"] == 1]["label"] == "specification gaming (end)").all()
    prose = " ".join(readme.split())

    def span(task, lo=0.0, hi=1.0):
        x = t[(t["task"] == task) & (t["w"] >= lo) & (t["w"] <= hi)]["train score"]
        return f"{x.min():.2f}-{x.max():.2f}"

    assert f"(train score {span('cheese-maze')} on the cheese maze" in prose
    assert f"{span('coin', 0, 0.25)} on coin at w <= 0.25" in prose
    assert f"{span('keys-chests', 0, 0.75)} on keys at w < 1" in prose
    assert f"the 0.9 line (train score {span('roomba')})" in prose
    # five seeds per weight (the seed-0 episodes were compared with the one-seed run's by cmp)
    assert sorted(rows["run"].str.extract(r"seed(\d)$")[0].unique()) == list("01234")


def sensitivity_table(path: Path, cell_of) -> str:
    """The label-sensitivity table of an analysed folder (every threshold moved by its step)."""
    from mesaworld.analysis.behavioral import labellers
    from mesaworld.analysis.labels import sensitivity, sensitivity_markdown

    rows = pd.read_csv(path)
    cells = {r["run"]: cell_of(r) for _, r in rows.iterrows()}
    return sensitivity_markdown(sensitivity(labellers(rows), cells, unused=("pai_pursued",)))


def test_the_label_sensitivity_beside_the_noisy_table_is_the_readmes():
    table = sensitivity_table(NOISY / "analysis" / "behavioral.csv", lambda r: r["run"])
    assert table in (ROOT / "README.md").read_text()
