"""Experiment 4: suboptimality alignment. The storeroom planner, trained shallow, given more search.

Trains the storeroom's planning agent with K = 3 value-iteration steps (preset
`storeroom-planner`) at several training budgets, and the same agent trained with K = 24
(`storeroom-planner-deep`, the control that meets the cans while it learns), 5 seeds each.
Every run is then evaluated with the *same weights* at each test-time K on its own train and
deploy levels (`mesaworld.experiments.instruments.capability`), and its reward map is read (`mesaworld.experiments.instruments.readout`:
the storeroom cans' value relative to floor dust, z-ratio 1 = "a can is dust", < 0 = below clean
floor). Per cell: mean and 95% t-interval over seeds; per run: the label across capability
(trained K vs the largest K, train levels: "suboptimality alignment (dust_collected)" where the
pattern holds). Writes <out>/capability_runs.csv (one file per run under <out>/capability/ as
it goes: run again and only what is missing is done), capability_cells.csv, labels.csv and
suboptimality.png/pdf.

    python -m mesaworld.experiments.e04_suboptimality                   # 5 seeds, ~15 min on 2 cores
    python -m mesaworld.experiments.e04_suboptimality --seeds 2 --budgets 50000 --no-control   # a look
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.labels import SUBOPTIMALITY, cell_label
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns, read_config
from mesaworld.analysis.runs import finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.experiments.instruments.capability import capability_rows, run_capability_label
from mesaworld.experiments.instruments.readout import readout_run
from mesaworld.experiments.report import check_out_folder, fail, figure_files, finish
from mesaworld.experiments.training.config import ConfigError, parse_value
from mesaworld.experiments.training.sweep import parallel_map, run_sweep, sweep_configs

SHALLOW, DEEP = "storeroom-planner", "storeroom-planner-deep"
METRICS = ("score/base", "score/dust_collected", "behaviour", "readout")
TABLES, FIGURE = ("capability_runs", "capability_cells", "labels"), "suboptimality"  # under --out


def _groups(args) -> list[tuple[str, str, int]]:
    """(folder name, preset, budget) of every training group."""
    out = [(f"shallow_{b}", SHALLOW, b) for b in args.budgets]
    if args.control:
        out.append((f"deep_{max(args.budgets)}", DEEP, max(args.budgets)))
    return out


def _per_run(run: Path, root: Path, group: str, steps: list[int], levels: int) -> pd.DataFrame:
    """One run's capability rows with its readout and label (cached beside the runs)."""
    cache = root / "capability" / f"{group}__{run.name}.csv"
    if cache.is_file():
        return pd.read_csv(cache)
    meta = read_config(run)
    rows = capability_rows(run, steps, levels)
    trained = int(meta["config"]["plan_steps"])
    budgets = sorted(set(steps) | {trained})
    if trained not in steps:
        rows = pd.concat([rows, capability_rows(run, [trained], levels)], ignore_index=True)
    read = readout_run(run, run.parent, levels)
    rows = rows.assign(
        group=group,
        run=run.name,
        seed=meta["config"]["seed"],
        total_steps=meta["config"]["total_steps"],
        trained_k=trained,
        readout=np.where(
            rows["split"] == "train",
            read["train/ratio/dust_collected"],
            read["deploy/ratio/dust_collected"],
        ),
        label=run_capability_label(rows, trained, max(budgets)),
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, rows.to_csv(index=False))
    return rows


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval over seeds per (group, split, test-time K)."""
    out = []
    for key, g in runs.groupby(["group", "split", "budget"], sort=False):
        rec = dict(zip(("group", "split", "budget"), key)) | {"seeds": len(g)}
        for m in METRICS:
            lo, hi = ci_columns(m)
            rec[m] = float(g[m].mean())
            rec[lo], rec[hi] = t_interval(g[m].to_numpy(float))
        out.append(rec)
    return pd.DataFrame(out)


def _band(ax, part: pd.DataFrame, x: str, m: str, label: str, **kw) -> None:
    lo, hi = ci_columns(m)
    ax.plot(part[x], part[m], marker="o", label=label, **kw)
    ax.fill_between(part[x], part[lo], part[hi], alpha=0.2, color=kw.get("color"))


def figure(table: pd.DataFrame, path: Path, groups: list[tuple[str, str, int]]) -> list[Path]:
    """Left: test-time K -> base score and cans emptied (train levels), trained shallow and deep.
    Right: training budget -> the same at the trained K and the largest K, and the readout."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    train = table[table["split"] == "train"]
    shallow = [g for g in groups if g[1] == SHALLOW]
    for (name, preset, _), color in zip(
        [shallow[-1], *[g for g in groups if g[1] == DEEP]], ["C0", "C3"]
    ):
        part = train[train["group"] == name].sort_values("budget")
        what = "trained K=3" if preset == SHALLOW else "trained K=24"
        _band(left, part, "budget", "score/base", f"base score, {what}", color=color)
        _band(left, part, "budget", "behaviour", f"cans emptied, {what}", color=color, ls="--")
    left.set_xscale("log")
    left.set_xlabel("value-iteration steps K at test time (same weights)")
    left.set_title("train levels: more search, same mesa-objective", fontsize=9)
    left.legend(fontsize=7)
    kmax = int(train["budget"].max())
    rows = []
    for name, _, budget in shallow:
        for k in (3, kmax):
            r = train[(train["group"] == name) & (train["budget"] == k)]
            if len(r):
                rows.append(r.iloc[0].to_dict() | {"steps": budget, "K": k})
    by = pd.DataFrame(rows)
    for k, color in ((3, "C0"), (kmax, "C1")):
        part = by[by["K"] == k].sort_values("steps")
        _band(right, part, "steps", "behaviour", f"cans emptied at K={k}", color=color, ls="--")
        _band(right, part, "steps", "score/base", f"base score at K={k}", color=color)
    part = by[by["K"] == 3].sort_values("steps")
    _band(right, part, "steps", "readout", "readout: can value / dust value", color="C2", ls=":")
    right.axhline(0, c="k", lw=0.6)
    right.set_xlabel("training steps (trained with K=3)")
    right.set_title("across training budgets", fontsize=9)
    right.legend(fontsize=7)
    fig.suptitle(
        "Suboptimality alignment in the storeroom (mean, 95% t-interval over seeds)", fontsize=10
    )
    fig.tight_layout()
    return save_figure(fig, path)


def _formatter(g: pd.DataFrame):
    def fmt(m: str, k: int) -> str:
        lo, hi = ci_columns(m)
        return f"{g.loc[k, m]:.2f} [{g.loc[k, lo]:.2f}, {g.loc[k, hi]:.2f}]"

    return fmt


def markdown(table: pd.DataFrame, labels: pd.DataFrame, ks: list[int]) -> str:
    """The README's table: per group, train levels, at each K in `ks` that was evaluated."""
    ks = [k for k in ks if k in set(table["budget"])]
    lines = [
        "| trained | steps | readout (can / dust) | "
        + " | ".join(f"K={k}: base score, cans emptied" for k in ks)
        + " | label across capability |",
        "|" + " --- |" * (3 + len(ks) + 1),
    ]
    train = table[table["split"] == "train"]
    for group, g in train.groupby("group", sort=False):
        g = g.set_index("budget")
        fmt = _formatter(g)

        cellk = [
            f"{fmt('score/base', k)}; {100 * g.loc[k, 'behaviour']:.0f}%"
            for k in ks
            if k in g.index
        ]
        lab = cell_label(labels[labels["group"] == group]["label"])
        lines.append(
            f"| {group.split('_')[0]} | {group.split('_')[1]} | {fmt('readout', ks[0])} | "
            + " | ".join(cellk)
            + f" | {lab} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds per group (>= 5 for a claim)")
    p.add_argument("--budgets", default="50000,100000,200000", help="training steps, K = 3")
    p.add_argument("--steps", default="1,3,8,16,24,40", help="test-time K values")
    p.add_argument("--levels", type=int, default=100, help="evaluation levels per split")
    p.add_argument("--no-control", dest="control", action="store_false", help="skip K = 24")
    p.add_argument("--workers", type=int, default=2, help="local training processes")
    p.add_argument("--out", default="runs/e04_suboptimality", help="folder of the run folders")
    args = p.parse_args(argv)
    try:
        args.budgets = [parse_value("budgets", "int", b) for b in args.budgets.split(",")]
        steps = [parse_value("steps", "int", k) for k in args.steps.split(",")]
        if min(steps) < 1 or args.levels < 1:
            raise ConfigError("steps and levels must be positive")
        groups = _groups(args)
        # Every file and folder written under --out, checked now rather than after the training.
        out = check_out_folder(
            "--out",
            args.out,
            files=[f"{n}.csv" for n in TABLES] + figure_files(FIGURE),
            folders=["capability", *(name for name, _, _ in groups)],
        )
        plans = [
            (name, sweep_configs(preset, [0.0], args.seeds, args.workers, total_steps=b))
            for name, preset, b in groups
        ]
    except (ConfigError, ValueError) as e:
        return fail("e04_suboptimality", e)
    jobs = []
    for name, configs in plans:
        run_sweep(configs, out / name, workers=args.workers, baselines=False, stream=sys.stderr)
        jobs += [(run, out, name, steps, args.levels) for run in finished_runs(out / name)[0]]
    names = [f"capability curve: {job[0].name}" for job in jobs]
    runs = pd.concat(parallel_map(_per_run, jobs, args.workers, names), ignore_index=True)
    table = cells(runs)
    labels = runs.drop_duplicates(["group", "run"])[["group", "run", "seed", "label"]]
    finish(
        out,
        {f"{n}.csv": frame for n, frame in zip(TABLES, (runs, table, labels))},
        lambda: figure(table, out / FIGURE, groups),
        markdown(table, labels, [3, 16, max(steps)]),
    )
    n = (labels["label"].str.startswith(SUBOPTIMALITY)).sum()
    print(f"\n{SUBOPTIMALITY}: {n}/{len(labels)} runs; figure {out / f'{FIGURE}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
