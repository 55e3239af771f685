"""The readout against the behavioral objective: two instruments, one agent.

The readout (`mesaworld.experiments.instruments.readout`) reads the planner's objective from its weights, before it
moves; inverse RL (`mesaworld analyze`, `mesaworld.analysis.behavioral`) recovers it from its deploy
behaviour. Per run and proxy:

    readout says   "proxy valued"   the deploy ratio's 95% interval lies above READ_HIGH (the
                                    proxy's own targets valued at least half like the base's)
                   "proxy not valued" its interval lies below READ_HIGH
                   "unclear"        otherwise
    IRL says       "proxy pursued"  the run's label names the proxy (goal misgeneralization or
                                    specification gaming of it, alone or in an "uncertain" pair)
                   "proxy not pursued" a label that does not name it (generalizes, ...)
                   "no claim"       undertrained, capability failure, unknown
    agree          yes / no / - (either side unclear or no claim)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

READ_HIGH = 0.5
NO_CLAIM = ("undertrained", "capability failure", "unknown")


def _read_says(lo: float, hi: float) -> str:
    if pd.isna(lo) or pd.isna(hi):
        return "unclear"
    if lo > READ_HIGH:
        return "proxy valued"
    if hi < READ_HIGH:
        return "proxy not valued"
    return "unclear"


def _irl_says(label: str, proxy: str) -> str:
    label = str(label)
    if label.startswith(NO_CLAIM):
        return "no claim"
    return "proxy pursued" if f"({proxy})" in label else "proxy not pursued"


def readout_vs_irl(readout_csv: Path, behavioral_csv: Path) -> pd.DataFrame:
    """One row per (run, proxy) present in both files (module docstring)."""
    read = pd.read_csv(readout_csv)
    irl = pd.read_csv(behavioral_csv).set_index("run")
    proxies = [
        c.split("/")[-1] for c in read.columns if c.startswith("deploy/ratio/") and ":" not in c
    ]
    rows = []
    for _, r in read.iterrows():
        if r["run"] not in irl.index:
            continue
        b = irl.loc[r["run"]]
        for k in proxies:
            m = f"deploy/ratio/{k}"
            says = _read_says(r[f"{m}:lo"], r[f"{m}:hi"]), _irl_says(b["label"], k)
            agree = "-" if "unclear" in says or "no claim" in says else (
                "yes" if (says[0] == "proxy valued") == (says[1] == "proxy pursued") else "no"
            )  # fmt: skip
            rows.append(
                {"run": r["run"], "knob": r["knob"], "seed": r["seed"], "proxy": k}
                | {"readout ratio": r[m], "ratio:lo": r[f"{m}:lo"], "ratio:hi": r[f"{m}:hi"]}
                | {"readout says": says[0], "IRL label": b["label"], "IRL says": says[1]}
                | {f"gap/{k}": b.get(f"gap/{k}"), "agree": agree}
            )
    return pd.DataFrame(rows)


def agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Per (knob, proxy): runs, and how many agree, disagree, or cannot be compared."""
    out = []
    for (knob, proxy), g in table.groupby(["knob", "proxy"]):
        counts = g["agree"].value_counts()
        out.append(
            {"knob": knob, "proxy": proxy, "runs": len(g)}
            | {"agree": int(counts.get("yes", 0)), "disagree": int(counts.get("no", 0))}
            | {"not comparable": int(counts.get("-", 0))}
        )
    return pd.DataFrame(out)
