"""Experiment 6: approximate alignment. Where each planning agent's mesa-objective is wrong on
its training levels, and what the error costs there (`mesaworld.experiments.instruments.approximate`).

Trains (or reuses) planning agents, 5 seeds each: the Roomba planner (knob 0: no cans in
training), the storeroom planner (K = 3: cans behind the wall) and its K = 24 control; the
cheese-maze planner is available (`--presets cheese-maze-planner`) but not a default: K = 50 on
its 13x13 mazes trains at < 300 steps/s on 2 busy cores (~50 min for 5 seeds). Per run, on train
and deploy levels: the base-target AUC of its reward map, the readout's proxy ratio, and the base
score of the same planner on its learned map, on the map with the proxy's cells corrected, and
on the exact base map. Per cell: mean and 95% t-interval over seeds. Writes
<out>/approximate/<group>__<run>.csv as it goes (run again: only what is missing is done),
approximate_runs.csv, approximate_cells.csv and approximate.png/pdf, and prints the README table.

    python -m mesaworld.experiments.e06_approximate                  # trains all three groups
    # after e04, reusing its storeroom runs (what the README's table is):
    python -m mesaworld.experiments.e06_approximate --presets roomba-planner \
        --reuse runs/e04_suboptimality/shallow_200000 runs/e04_suboptimality/deep_200000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import interval_errors, mark_bars, save_figure
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns, read_config
from mesaworld.analysis.runs import finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.instruments.approximate import approximate_row
from mesaworld.experiments.report import (
    BadArgument,
    check_in_folders,
    check_out_folder,
    fail,
    figure_files,
    finish,
)
from mesaworld.experiments.training.config import ConfigError
from mesaworld.experiments.training.sweep import parallel_map, run_sweep, sweep_configs

# Each at its training knob: no cans (Roomba), no cans in the main room, cheese in the corner cell.
PRESETS = {
    "roomba-planner": 0.0,
    "storeroom-planner": 0.0,
    "storeroom-planner-deep": 0.0,
    "cheese-maze-planner": 1.0,
}
DEFAULT = "roomba-planner,storeroom-planner,storeroom-planner-deep"
RUNS, CELLS, FIGURE = "approximate_runs.csv", "approximate_cells.csv", "approximate"  # under --out


def _proxy(task: str) -> str:
    return TASKS[task].objectives[1]


def planner_runs(root: Path) -> list[Path]:
    """The finished trained planner runs under `root`: only these have a reward map to correct
    (a sweep folder also holds the task's baselines; other networks have no map)."""
    return [
        run for run in finished_runs(root)[0]
        if (meta := read_config(run))["role"] == "trained"
        and meta["config"].get("network") == "planner"
    ]  # fmt: skip


def _per_run(run: Path, out: Path, group: str, levels: int) -> dict:
    cache = out / "approximate" / f"{group}__{run.name}.csv"
    if cache.is_file():
        return pd.read_csv(cache).iloc[0].to_dict()
    row = approximate_row(run, levels) | {"group": group, "run": run.name}
    proxy = _proxy(row["task"])
    for split in ("train", "deploy"):
        row[f"{split}/ratio/proxy"] = row.get(f"{split}/ratio/{proxy}", np.nan)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, pd.DataFrame([row]).to_csv(index=False))
    return row


METRICS = [
    f"{s}/{m}"
    for s in ("train", "deploy")
    for m in ("auc/base", "ratio/proxy", "score/learned", "cost/no proxy", "cost/exact")
]


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval over seeds per group."""
    out = []
    for group, g in runs.groupby("group", sort=False):
        rec = {"group": group, "task": g["task"].iloc[0], "seeds": len(g)}
        rec["plan_steps"] = int(g["plan_steps"].iloc[0])
        for m in METRICS:
            lo, hi = ci_columns(m)
            x = g[m].to_numpy(float)
            rec[m] = float(np.nanmean(x)) if np.isfinite(x).any() else np.nan
            rec[lo], rec[hi] = t_interval(x)
        out.append(rec)
    return pd.DataFrame(out)


def _ci(r: pd.Series, m: str) -> str:
    lo, hi = ci_columns(m)
    if not np.isfinite(r[m]):
        return "none on these levels"
    return f"{r[m]:.2f} [{r[lo]:.2f}, {r[hi]:.2f}]"


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| planning agent | seeds | train: base AUC | train: proxy ratio | train: base score "
        "| train: gain, proxy error removed | train: gain, exact base map | deploy: proxy ratio "
        "| deploy: gain, proxy error removed | deploy: gain, exact base map |",
        "|" + " --- |" * 10,
    ]
    for _, r in table.iterrows():
        cols = ["auc/base", "ratio/proxy", "score/learned", "cost/no proxy", "cost/exact"]
        cells_ = [_ci(r, f"train/{m}") for m in cols]
        cells_ += [_ci(r, f"deploy/{m}") for m in ("ratio/proxy", "cost/no proxy", "cost/exact")]
        name = f"{r['group']} (K={r['plan_steps']}, proxy {_proxy(r['task'])})"
        lines.append(f"| {name} | {int(r['seeds'])} | " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def figure(table: pd.DataFrame, path: Path) -> list[Path]:
    """Left: the proxy ratio, train vs deploy. Right: what removing the proxy error and every
    error gains, train vs deploy. Mean over seeds with 95% t-intervals over seeds; "n/a" where a
    value cannot be measured (no proxy cells on those levels), "0" on a bar of height 0."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.0))
    x = np.arange(len(table))
    bars = [
        (left, "ratio/proxy", [("train", "C0"), ("deploy", "C1")]),
        (right, "cost/no proxy", [("train", "C0"), ("deploy", "C1")]),
        (right, "cost/exact", [("train", "C2"), ("deploy", "C3")]),
    ]
    names = {"ratio/proxy": "proxy ratio", "cost/no proxy": "proxy error removed"}
    names["cost/exact"] = "exact base map"
    for ax, m, splits in bars:
        shift = -0.3 if ax is left or m == "cost/no proxy" else 0.1
        for j, (split, c) in enumerate(splits):
            col = f"{split}/{m}"
            lo, hi = ci_columns(col)
            at = x + shift + 0.2 * j * (2 if ax is left else 1)
            y = table[col].to_numpy(float)
            ax.bar(at, np.nan_to_num(y), 0.2, color=c, label=f"{names[m]}, {split}",
                   yerr=interval_errors(y, table[lo], table[hi]))  # fmt: skip
            mark_bars(ax, at, y)
        ax.set_xticks(x, [f"{g}\n(K={k}, n={n})" for g, k, n in
                          zip(table["group"], table["plan_steps"], table["seeds"])], fontsize=7)  # fmt: skip
        ax.set_xlabel("planning agent (K = value-iteration steps, n = seeds)", fontsize=8)
        ax.axhline(0, c="k", lw=0.6)
        ax.legend(fontsize=7)
    left.set_ylabel("proxy ratio of the reward map\n(1 = like base targets, 0 = like floor)",
                    fontsize=8)  # fmt: skip
    right.set_ylabel("gain in base score\n(corrected map - learned map)", fontsize=8)
    left.set_title("proxy's own cells, valued like base targets (1) or floor (0)", fontsize=9)
    right.set_title("base-score gain from correcting the map (same weights, same K)", fontsize=9)
    seeds = sorted({int(n) for n in table["seeds"]})
    n_text = f"n = {seeds[0]}" if len(seeds) == 1 else f"n = {seeds[0]}-{seeds[-1]}"
    fig.suptitle(
        "Approximate alignment: the mesa-objective's error on train and deploy levels\n"
        f"mean over {n_text} seeds per bar; whiskers: 95% t-interval over seeds; n/a: no proxy "
        "cells on those levels",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", default=DEFAULT, help="planning presets to train")
    p.add_argument(
        "--reuse", nargs="*", default=[], help="folders of finished planner runs (others skipped)"
    )
    p.add_argument("--seeds", type=int, default=5, help="seeds per preset (>= 5 for a claim)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: presets')")
    p.add_argument("--levels", type=int, default=100, help="evaluation levels per split")
    p.add_argument("--workers", type=int, default=2, help="local training processes")
    p.add_argument("--out", default="runs/e06_approximate", help="folder of the run folders")
    args = p.parse_args(argv)
    try:
        names = [n for n in args.presets.split(",") if n]
        unknown = [n for n in names if n not in PRESETS]
        if unknown:
            raise ConfigError(f"presets: {unknown} are not planning presets ({list(PRESETS)})")
        # Reused runs are found now (reading config.json files only): a folder without planner
        # runs would otherwise fail only after the training of --presets.
        reused = []
        for root in check_in_folders("--reuse", args.reuse):
            found = planner_runs(root)
            if not found:
                n = len(finished_runs(root)[0])
                why = f"{n} finished runs, none with --network planner" if n else "none finished"
                raise BadArgument(f"--reuse: {root} holds no finished planner runs ({why})")
            reused.append((str(read_config(found[0])["preset"]), found))
        if not names and not reused:
            raise BadArgument("nothing to do: --presets is empty and no --reuse folders given")
        if args.levels < 1 or (args.steps is not None and args.steps < 1):
            raise ConfigError("steps and levels must be positive")
        extra = {} if args.steps is None else {"total_steps": args.steps}
        plans = [
            (n, sweep_configs(n, [PRESETS[n]], args.seeds, args.workers, **extra)) for n in names
        ]
        # Every file and folder written under --out, checked now rather than after the training.
        out = check_out_folder(
            "--out", args.out, [RUNS, CELLS, *figure_files(FIGURE)], ["approximate", *names]
        )
    except (ConfigError, ValueError) as e:
        return fail("e06_approximate", e)
    groups = []
    for name, configs in plans:
        run_sweep(configs, out / name, workers=args.workers, baselines=False, stream=sys.stderr)
        groups.append((name, finished_runs(out / name)[0]))
    groups += reused  # grouped by preset, like the runs this script trains
    jobs = [
        (run, out, name, args.levels) for name, runs in groups for run in runs[: args.seeds]
    ]  # fmt: skip
    rows = parallel_map(_per_run, jobs, args.workers, [f"map error: {j[0].name}" for j in jobs])
    runs = pd.DataFrame(rows)
    table = cells(runs)
    finish(out, {RUNS: runs, CELLS: table}, lambda: figure(table, out / FIGURE), markdown(table))
    print(f"\nfigure {out / f'{FIGURE}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
