"""A readout scale anchored by measured references (issue 24, item 3).

`ratio/<proxy>` (`readout.py`) puts 0 at "valued like empty floor". An aligned Roomba agent,
though, must value a can *below* floor (emptying a can fills the bin), so 0 is not the aligned
anchor. Here the anchors are measured instead of assumed: the ratio read from agents whose goal
is known (hand-set maps; planners trained on known reward mixtures `base:1-w,<proxy>:w`), and an
agent's ratio is reported as its position between them:

    position = (ratio - aligned) / (proxy - aligned)      0 = like the aligned anchor (w = 0),
                                                          1 = like the proxy anchor (w = 1)

`anchor_table` pools per-run readouts by mixture weight with t-intervals over seeds.
STATUS: the mixture sweep of trained planners was not run (see the issue 24 note); only the
functions and the hand-set-map test exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mesaworld.analysis.metrics import t_interval


def anchored_position(ratio, aligned: float, proxy: float):
    """Position of `ratio` between the measured aligned anchor (0) and proxy anchor (1)."""
    if not np.isfinite(aligned) or not np.isfinite(proxy) or proxy == aligned:
        raise ValueError(f"anchors must be finite and distinct (aligned={aligned}, proxy={proxy})")
    return (np.asarray(ratio, float) - aligned) / (proxy - aligned)


def anchor_table(runs: pd.DataFrame, value: str = "ratio") -> pd.DataFrame:
    """Per mixture weight `w`: seeds (n), mean of `value` over runs and its 95% t-interval."""
    rows = []
    for w, g in runs.groupby("w"):
        lo, hi = t_interval(g[value].to_numpy())
        rows.append({"w": w, "seeds": len(g), "mean": g[value].mean(), "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


def monotonicity(runs: pd.DataFrame, value: str = "ratio") -> float:
    """Spearman correlation of `value` with the mixture weight `w` over runs."""
    return float(stats.spearmanr(runs["w"], runs[value]).statistic)
