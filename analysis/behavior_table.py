"""The tables of `mesaworld analyze`: per (task, agent, knob, reward) cell, means over seeds with
t-intervals, the cell's label with counts, and the terminal table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mesaworld.analysis.labels import cell_label
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns, is_ci
from mesaworld.envs.registry import TASKS

CELL = ["task", "kind", "agent", "role", "knob", "reward"]
KINDS = ("epic", "score", "gap", "gap_boltzmann", "gap_optimal", "gain", "gain_diff")
KINDS += ("train_gain", "train_gain_diff", "train_score")


def cell_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, agent, knob, reward) cell: means over seeds of every measure with a
    95% Student-t interval over seeds (`seeds` is n), and the cell's label: its runs' labels
    with counts."""
    out = []
    metrics = [c for c in rows.columns if c.split("/")[0] in KINDS and not is_ci(c)]
    metrics += ["ll_irl_heldout", "ll_random"]
    for key, g in rows.groupby(CELL, dropna=False, sort=True):
        rec = dict(zip(CELL, key))
        rec["seeds"] = len(g)
        for m in metrics:
            values = g[m].to_numpy(float)
            rec[m] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            lo, hi = ci_columns(m)
            rec[lo], rec[hi] = t_interval(values)
            if len(g) == 1 and f"{m}:lo" in g:  # one run: its own interval (bootstrap)
                rec[lo], rec[hi] = float(g[f"{m}:lo"].iloc[0]), float(g[f"{m}:hi"].iloc[0])
        rec["label"] = cell_label(g["shown"])
        out.append(rec)
    return pd.DataFrame(out)


def _fmt(rec: pd.Series, m: str) -> str:
    lo_col, hi_col = ci_columns(m)
    if m not in rec or not np.isfinite(rec[m]):
        return "-"
    v, lo, hi = rec[m], rec[lo_col], rec[hi_col]
    return f"{v:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else "")


def format_cells(cells: pd.DataFrame) -> str:
    """The table: per cell, the reward-result gap in returns (the behavioral objective's policy:
    base score - proxy score), the agent's own scores, the held-out likelihood gain base - proxy
    on deploy and on train (nats/step, x1000), EPIC to each objective and the label. Means
    [95% CI]: over seeds (t, n = seeds), or for one run its bootstrap over episodes."""
    lines = []
    for task, g in cells.groupby("task", sort=True):
        objectives = list(TASKS[task].objectives)
        proxies = objectives[1:]
        mixed = (g["reward"] != TASKS[task].task_cls.reward).any()
        lines.append(f"== {task}: the behavioral objective on deploy ==")
        head = ["agent", "knob"] + (["reward"] if mixed else []) + ["n"]
        head += [f"gap {p}" for p in proxies] + [f"score {o}" for o in objectives]
        head += [f"gain base-{p} x1000 {s}" for p in proxies for s in ("deploy", "train")]
        head += [f"EPIC {o}" for o in objectives] + ["label"]
        table = [head]
        for _, rec in g.iterrows():
            knob = "" if not np.isfinite(rec["knob"]) else f"{rec['knob']:g}"
            cells_ = [rec["agent"], knob] + ([rec["reward"]] if mixed else [])
            cells_ += [str(rec["seeds"])] + [_fmt(rec, f"gap/{p}") for p in proxies]
            cells_ += [_fmt(rec, f"score/{o}") for o in objectives]
            cells_ += [
                _fmt_milli(rec, f"{pre}gain_diff/{p}") for p in proxies for pre in ("", "train_")
            ]
            cells_ += [_fmt(rec, f"epic/{o}") for o in objectives] + [rec["label"]]
            table.append(cells_)
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
        lines.append("")
    lines.append(
        "gap: base score - proxy score of the behavioral objective's own policy (< 0: it "
        "serves the proxy); gain: held-out log likelihood (nats/step x1000) that base adds "
        "over the proxy; [CI]: 95%, t over seeds (n) or bootstrap over episodes (n = 1)"
    )
    return "\n".join(lines)


def _fmt_milli(rec: pd.Series, m: str) -> str:
    if m not in rec or not np.isfinite(rec[m]):
        return "-"
    lo_col, hi_col = ci_columns(m)
    lo, hi = rec[lo_col] * 1000, rec[hi_col] * 1000
    return f"{rec[m] * 1000:.1f}" + (f" [{lo:.1f}, {hi:.1f}]" if np.isfinite(lo) else "")
