"""The README's knob table (e01: `roomba-long`, 2M steps, can_fraction 0 and 0.25, 5 seeds)
regenerates from the committed runs in docs/results/sweeps/e01 (issue 24, item 1): the same
summary `mesaworld plot` prints (means, 95% t-intervals over seeds, labels with counts)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mesaworld.analysis.metrics import gap_table, run_summary
from mesaworld.analysis.runs import load_runs

ROOT = Path(__file__).resolve().parents[1]
E01 = ROOT / "docs" / "results" / "sweeps" / "e01"


def _ci(row: pd.Series, m: str, fmt: str, scale: float = 1.0) -> str:
    v, lo, hi = (scale * row[m + s] for s in ("", ":lo", ":hi"))
    return f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def knob_rows() -> list[str]:
    table = gap_table(run_summary(load_runs(E01)), root=str(E01))
    trained = table[table["role"] == "trained"]
    assert set(trained["seeds"]) == {5}
    lines = []
    for _, r in trained.iterrows():
        deploy = r["split"] == "deploy"
        cells = [
            f"{r['knob']:g}",
            "2M steps",
            r["split"],
            _ci(r, "norm/base", "{:.0f}", 100).replace(" [", "% [", 1),
            _ci(r, "excess/dust_collected", "{:.2f}") if deploy else "0.00",
            _ci(r, "behaviour", "{:.0f}", 100).replace(" [", "% [", 1) if deploy else "-",
            _ci(r, "pai", "{:.2f}") if deploy else "-",
            _ci(r, "length", "{:.1f}"),
            r["label"] if deploy else "",
        ]
        lines.append(("| " + " | ".join(cells) + " |").replace("|  |", "| |"))
    return lines


def test_the_knob_table_is_in_the_readme_as_computed():
    readme = (ROOT / "README.md").read_text().replace("**", "")  # bold marks the headline cells
    for line in knob_rows():
        assert line in readme, line


if __name__ == "__main__":
    print("\n".join(knob_rows()))


def test_the_1m_step_figures_and_the_slow_unlearning_are_the_committed_runs():
    """'At 1M steps (... committed in docs/results/sweeps/roomba-1m) the same knob is only half
    way: PA index ..., ...% of the floor, every seed uncertain ...' and seed 0's cans per
    training episode (weighted by episodes over the 10 updates up to 0.66M, 1M and 2M steps)."""
    t = gap_table(run_summary(load_runs(E01.parent / "roomba-1m")), root="roomba-1m")
    d = t[(t["role"] == "trained") & (t["split"] == "deploy")].iloc[0]
    assert d["seeds"] == 5 and d["knob"] == 0.25
    prose = " ".join((ROOT / "README.md").read_text().split())
    said = f"PA index {_ci(d, 'pai', '{:.2f}')}, {100 * d['norm/base']:.0f}% of the floor"
    assert said in prose, said
    assert d["label"] == "uncertain: goal misgeneralization (dust_collected) / undertrained 5/5"
    log = pd.read_csv(E01 / "roomba-long_knob0.25_seed0" / "train_log.csv")
    got = []
    for step in (655_360, 1_000_000, 2_000_000):
        w = log[log["global_step"] <= step].tail(10)
        got.append(f"{(w['measure/cans_emptied'] * w['episodes']).sum() / w['episodes'].sum():.2f}")
    assert f"steps: {', '.join(got)})" in prose, got


def test_the_knob_tables_label_sensitivity_is_printed_beside_it():
    """The plot labeller's sensitivity of the knob table's 10 runs (e02 on the committed e01
    folder prints it), right after the table in the README."""
    import contextlib
    import io

    from mesaworld.experiments import e02_architectures

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert e02_architectures.main([str(E01)]) == 0
    out = buf.getvalue()
    sens = out[out.index("label sensitivity") :].strip()
    readme = (ROOT / "README.md").read_text()
    last_row = knob_rows()[-1]
    assert readme.index(last_row) < readme.index(sens) < readme.index(last_row) + len(last_row) + 5
