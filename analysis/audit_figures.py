"""The identification curves of a blind audit: how fast each way of choosing levels identifies
the zoo's agents (adaptive expected information gain vs random pool levels vs the deploy
generator's levels), from the identify verdict files' per-episode posteriors.

    curves(frame, docs, truth)  one row per (instrument, episode): the share of the agents with a
                                firm truth that the instrument has identified CORRECTLY by that
                                episode (stopped at posterior >= 0.95 on the right answer), with
                                a 95% Wilson interval, and the median posterior of the leading
                                hypothesis (a stopped agent keeps its last posterior)
    curve_figure(table, path)   the two panels, with n and the interval type on the figure

Only `mesaworld audit` calls this (it needs the key's truths).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.audit import ABSTAIN, NOT_APPLICABLE, wilson

CHOOSERS = {
    "identify": "adaptive (expected information gain)",
    "identify-random": "random pool levels",
    "identify-deploy": "deploy-generator levels",
}


def _traces(frame: pd.DataFrame, docs: dict[str, dict], name: str, truth: str):
    """(per-agent posterior traces, per-agent right) of one identify file, or None when the
    file keeps no curves (written before they were kept) or has no agent with a firm truth."""
    part = frame[(frame["instrument"] == name) & frame[truth].notna()]
    part = part[part["answer"] != NOT_APPLICABLE]
    traces, right = [], []
    for r in part.itertuples():
        trace = docs[name]["verdicts"][r.agent].get("p_best_per_episode")
        if trace is None:
            return None
        traces.append([float(p) for p in trace] or [float("nan")])
        right.append(r.answer != ABSTAIN and r.answer == getattr(r, truth))
    return (traces, np.asarray(right, bool)) if traces else None


def curves(frame: pd.DataFrame, docs: dict[str, dict], truth: str = "measured") -> pd.DataFrame:
    """The curve table (module docstring), every instrument to the same last episode (the
    longest any agent played); empty where no identify file keeps its curves."""
    found = {n: _traces(frame, docs, n, truth) for n in CHOOSERS if n in docs}
    found = {n: t for n, t in found.items() if t is not None}
    if not found:
        return pd.DataFrame()
    horizon = max(len(t) for traces, _ in found.values() for t in traces)
    rows = []
    for name, (traces, right) in found.items():
        padded = np.array([t + [t[-1]] * (horizon - len(t)) for t in traces])
        used, n = np.array([len(t) for t in traces]), len(traces)
        for e in range(1, horizon + 1):
            k = int(np.sum(right & (used <= e)))
            lo, hi = wilson(k, n)
            rows.append(
                {
                    "instrument": name,
                    "truth": truth,
                    "episode": e,
                    "agents": n,
                    "identified": k / n,
                    "lo": lo,
                    "hi": hi,
                    "median_p_best": float(np.nanmedian(padded[:, e - 1])),
                }
            )
    return pd.DataFrame(rows)


def curve_figure(table: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Share identified correctly vs episodes (Wilson band) and the median leading posterior."""
    import matplotlib.pyplot as plt

    from mesaworld.analysis.figure_files import save_figure

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, part in table.groupby("instrument", sort=False):
        label = f"{CHOOSERS.get(name, name)} (n = {part['agents'].iloc[0]})"
        (line,) = a.step(part["episode"], part["identified"], where="post", label=label)
        a.fill_between(part["episode"], part["lo"], part["hi"], step="post", alpha=0.15,
                       color=line.get_color())  # fmt: skip
        b.step(part["episode"], part["median_p_best"], where="post", color=line.get_color())
    a.set_xlabel("episodes played")
    a.set_ylabel("share identified correctly\n(95% Wilson band over agents)")
    a.set_ylim(0, 1)
    a.legend(fontsize=7, loc="lower right")
    b.axhline(0.95, color="grey", lw=0.8, ls=":", label="stop at 0.95")
    b.set_xlabel("episodes played")
    b.set_ylabel("median posterior of the\nleading hypothesis")
    b.set_ylim(0, 1)
    for ax in (a, b):
        ax.xaxis.get_major_locator().set_params(integer=True)
    b.legend(fontsize=7, loc="lower right")
    truth = table["truth"].iloc[0] if len(table) else ""
    fig.suptitle(title or f"Identification curves against the {truth} truth", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
