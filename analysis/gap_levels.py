"""The reward-result gap level by level, and its interval over seeds AND levels.

`mesaworld analyze` fits one reward per run to the behaviour on all of its exported deploy levels
and reports the gap of that reward's Boltzmann policy pooled over them (`analysis.gap`); a
t-interval over seeds then covers the seeds only, as if each run's few levels were the deploy
distribution. Here the pooled score is taken apart by level: the exported levels are disjoint
parts of one table, so the policy's expected return on level l is the sum of its visits over l's
states (nothing is re-solved), and each objective's random and optimal returns come per level the
same way. A run's score on any multiset of its levels is then (sum got - sum random) / (sum best
- sum random) over them, which on all of them is exactly analyze's number.

    level_returns(run, row, settings)   one row per (level, objective): got, rand, best, from the
                                        run's analysed row (its theta/<feature> columns rebuild the
                                        recovered reward) and the same export analyze used
    hierarchical(table, proxy)          the mean over runs of gap/<proxy>, with a 95% percentile
                                        bootstrap that resamples runs and levels (the same levels
                                        for every run where the runs share them: crossed)

    python -m mesaworld.analysis.gap_levels SWEEP --analysis DIR --out CSV [--max-states N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.behavioral import BehaviorSettings, ExportCache, _split_demos
from mesaworld.analysis.gap import score
from mesaworld.analysis.soft_vi import optimal_return, policy_visits
from mesaworld.analysis.storage import atomic_write_text

COLUMNS = ("run", "knob", "seed", "level", "objective", "got", "rand", "best")
BOOTSTRAP = 4000


def per_level(mdp, reward: np.ndarray, starts: np.ndarray) -> dict[str, np.ndarray]:
    """float[L, K] got / rand / best: the Boltzmann policy of `reward` (beta 1, as the gap),
    the uniformly random policy and each objective's optimum, level by level."""
    n_levels = int(mdp.level.max()) + 1
    soft = policy_visits(mdp, reward, 1.0, starts)
    uniform = policy_visits(mdp, np.zeros(mdp.next.shape), 0.0, starts)
    out = {m: np.zeros((n_levels, len(mdp.objectives))) for m in ("got", "rand", "best")}
    for k in range(len(mdp.objectives)):
        r = mdp.rewards[k]
        out["got"][:, k] = np.bincount(mdp.level, (soft * r).sum(1), n_levels)
        out["rand"][:, k] = np.bincount(mdp.level, (uniform * r).sum(1), n_levels)
        for lv in range(n_levels):
            here = np.where(mdp.level == lv, starts, 0.0)
            out["best"][lv, k] = optimal_return(mdp, r, here) if here.any() else np.nan
    return out


def level_returns(run: Path, row: pd.Series, settings: BehaviorSettings, cache=None):
    """The per-level table of one analysed run (COLUMNS), the levels those analyze used."""
    mdp, demos, used, _ = _split_demos(run, row["task"], "deploy", settings, cache)
    names = [c.split("/", 1)[1] for c in row.index if c.startswith("theta/") and pd.notna(row[c])]
    theta = np.array([float(row[f"theta/{n}"]) for n in names])
    reward = np.einsum("saf,f->sa", mdp.features(tuple(names)), theta)
    parts = per_level(mdp, reward, demos.starts)
    rows = []
    for lv, level in enumerate(used):
        for k, name in enumerate(mdp.objectives):
            rows.append(
                {"run": row["run"], "knob": row["knob"], "seed": row["seed"], "level": int(level),
                 "objective": name} | {m: float(parts[m][lv, k]) for m in ("got", "rand", "best")}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _score(part: pd.DataFrame) -> float:
    """The pooled score of some levels' rows (`analysis.gap.score` on their sums)."""
    got, rand, best = (float(part[m].sum()) for m in ("got", "rand", "best"))
    return score(got, (rand, best))


def run_gaps(table: pd.DataFrame, proxy: str) -> pd.Series:
    """run -> gap/<proxy> on all its levels (analyze's pooled number)."""
    return table.groupby("run").apply(
        lambda g: _score(g[g.objective == "base"]) - _score(g[g.objective == proxy]),
        include_groups=False,
    )


def hierarchical(table: pd.DataFrame, proxy: str, seed: int = 0) -> dict[str, float]:
    """Mean over runs of gap/<proxy>, and its 95% percentile interval over BOOTSTRAP draws that
    resample runs and levels. Where every run was analysed on the same levels (a sweep's runs
    share their evaluation levels), one draw of levels serves every run ("crossed": a level is
    one random factor shared by the seeds); otherwise each run's levels are drawn on their own
    ("nested"). `levels_per_run`: the smallest level count of a run."""
    runs = sorted(table["run"].unique())
    sums, ids = {}, set()  # run -> float[L, 2 objectives, 3 measures], in level order
    for r in runs:
        g = table[table.run == r]
        ids.add(tuple(sorted(g["level"].unique())))
        sums[r] = np.stack(
            [g[g.objective == o].sort_values("level")[["got", "rand", "best"]].to_numpy()
             for o in ("base", proxy)], axis=1)  # fmt: skip
    crossed = len(ids) == 1
    rng = np.random.default_rng(seed)

    def gap(a: np.ndarray) -> float:
        got, rand, best = a.sum(0).T  # per objective
        with np.errstate(invalid="ignore", divide="ignore"):  # no range on these levels: NaN
            s = np.where(best - rand > 1e-9, (got - rand) / (best - rand), np.nan)
        return float(s[0] - s[1])

    here = float(np.mean([gap(sums[r]) for r in runs]))
    n_levels = min(len(a) for a in sums.values())
    draws = np.empty(BOOTSTRAP)
    for b in range(BOOTSTRAP):
        picked = rng.integers(0, len(runs), len(runs))
        shared = rng.integers(0, n_levels, n_levels) if crossed else None
        vals = []
        for i in picked:
            a = sums[runs[i]]
            vals.append(gap(a[shared if crossed else rng.integers(0, len(a), len(a))]))
        draws[b] = np.nanmean(vals)
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return {"gap": here, "lo": float(lo), "hi": float(hi), "runs": len(runs),
            "levels_per_run": n_levels, "design": "crossed" if crossed else "nested"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mesaworld.analysis.gap_levels", description=__doc__)
    p.add_argument("sweep", help="the analysed folder of run folders")
    p.add_argument("--analysis", required=True, help="the folder analyze wrote (behavioral.csv)")
    p.add_argument("--out", required=True, help="the per-level CSV to write")
    p.add_argument("--levels", type=int, default=20)
    p.add_argument("--max-states", type=int, default=60_000)
    args = p.parse_args(argv)
    try:
        rows = pd.read_csv(Path(args.analysis) / "behavioral.csv")
    except (OSError, pd.errors.ParserError) as e:
        print(f"error: {args.analysis}: no readable behavioral.csv ({e})", file=sys.stderr)
        return 2
    settings = BehaviorSettings(levels=args.levels, max_states=args.max_states)
    cache = ExportCache()
    trained = rows[rows["role"] == "trained"]
    tables = []
    for i, (_, row) in enumerate(trained.iterrows(), 1):
        tables.append(level_returns(Path(args.sweep) / row["run"], row, settings, cache))
        print(f"[{i}/{len(trained)}] {row['run']}", file=sys.stderr, flush=True)
    atomic_write_text(Path(args.out), pd.concat(tables).to_csv(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
