"""Experiment 5: a learned learning algorithm (RL^2) and the prior a shift exposes.

Meta-trains the LSTM agent on `which-object` (preset `which-object-lstm`: five trials per
episode, the level reset between trials, the memory kept) at each lamp reliability (the knob:
1/3 says nothing, 0.8 is usually right), 5 seeds each. With frozen weights, every run plays one
episode per evaluation level of its own training distribution and of deploy (where the lamp
lies): reward per trial (the in-context learning curve) and the trial of the first reward,
beside the exact Bayesian learner (`mesaworld.analysis.bayes`) given the true prior and, at deploy, the
Bayesian learner that keeps the training prior. Per cell: mean and 95% t-interval over seeds.
Writes <out>/curves/<run>.csv as it goes (run again and only what is missing is done),
in_context_runs.csv, in_context_cells.csv and in_context.png/pdf, and prints the README table.

    python -m mesaworld.experiments.e05_in_context                          # 2 knobs x 5 seeds, ~15 min
    python -m mesaworld.experiments.e05_in_context --knobs 0.8 --seeds 2 --steps 200000   # a look
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns, read_config
from mesaworld.analysis.runs import finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.envs.tasks.which_object import TRIALS
from mesaworld.experiments.instruments.in_context import run_curves
from mesaworld.experiments.report import check_out_folder, fail, figure_files, finish
from mesaworld.experiments.training.config import ConfigError
from mesaworld.experiments.training.progress import job_line
from mesaworld.experiments.training.sweep import run_sweep, sweep_configs

PRESET = "which-object-lstm"
METRICS = ("reward", "cued", "first")
RUNS, CELLS, FIGURE = "in_context_runs.csv", "in_context_cells.csv", "in_context"  # under --out


def _knob(text: str) -> float:
    """A lamp reliability: a number or a fraction ("1/3": exactly uninformative)."""
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"knobs: {text!r} is not a number or a fraction like 1/3") from None


def _per_run(run: Path, root: Path, levels: int) -> pd.DataFrame:
    """One run's curves (cached under <root>/curves)."""
    cache = root / "curves" / f"{run.name}.csv"
    if cache.is_file():
        return pd.read_csv(cache)
    seed = read_config(run)["config"]["seed"]
    rows = run_curves(run, levels).assign(run=run.name, seed=seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, rows.to_csv(index=False))
    return rows


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval over seeds per (knob, split, trial); the Bayesian columns are
    exact (the same in every run of a cell)."""
    out = []
    for key, g in runs.groupby(["knob", "split", "trial"], sort=True):
        rec = dict(zip(("knob", "split", "trial"), key)) | {"seeds": g["run"].nunique()}
        for m in METRICS:
            lo, hi = ci_columns(m)
            rec[m] = float(g[m].mean())
            rec[lo], rec[hi] = t_interval(g[m].to_numpy(float))
        for m in ("bayes", "bayes_train_prior", "first_bayes", "first_bayes_train_prior"):
            rec[m] = float(g[m].iloc[0])
        out.append(rec)
    return pd.DataFrame(out)


def figure(table: pd.DataFrame, path: Path) -> list[Path]:
    """Per split: reward per trial, each knob's agents (band: 95% t-interval over seeds, clipped
    to [0, 1], the range of a probability) against the Bayesian learner given the true prior
    (dashed) and, at deploy, keeping the train prior (dotted)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), sharey=True)
    for ax, split in zip(axes, ("train", "deploy")):
        part = table[table["split"] == split]
        for i, (knob, g) in enumerate(part.groupby("knob")):
            c = f"C{i}"
            lo, hi = ci_columns("reward")
            ax.plot(g["trial"], g["reward"], marker="o", color=c, label=f"LSTM, lamp {knob:.2f}")
            ax.fill_between(g["trial"], g[lo].clip(0, 1), g[hi].clip(0, 1), color=c, alpha=0.2)
            ax.plot(
                g["trial"], g["bayes"], ls="--", color=c, label=f"Bayes, true prior ({knob:.2f})"
            )
            if split == "deploy":
                ax.plot(
                    g["trial"], g["bayes_train_prior"], ls=":", color=c,
                    label=f"Bayes, train prior ({knob:.2f})",
                )  # fmt: skip
        what = "the lamp lies" if split == "deploy" else "each run's training lamp"
        ax.set_title(f"{split} levels ({what})", fontsize=9)
        ax.set_xlabel("trial within the episode (frozen weights)")
        ax.set_xticks(range(1, TRIALS + 1))
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("P(reward) in the trial")
        ax.tick_params(axis="y", labelleft=True)
    axes[1].legend(fontsize=7, loc="lower right")
    seeds = sorted({int(n) for n in table["seeds"]})
    n_text = f"n = {seeds[0]}" if len(seeds) == 1 else f"n = {seeds[0]}-{seeds[-1]}"
    fig.suptitle(
        "In-context learning vs the exact Bayesian learner\n"
        f"LSTM: mean over {n_text} seeds per curve; band: 95% t-interval over seeds, clipped to "
        "[0, 1]; Bayes: exact",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def _ci(row: pd.Series, m: str) -> str:
    lo, hi = ci_columns(m)
    return f"{row[m]:.2f} [{row[lo]:.2f}, {row[hi]:.2f}]"


def markdown(table: pd.DataFrame) -> str:
    """The README's table: per (knob, split), trial 1 and 2 reward, lamp-following in trial 1,
    and the trial of the first reward, against both Bayesian learners."""
    lines = [
        "| lamp reliability (train) | levels of | seeds | trial 1 reward | trial 2 reward "
        "| trial 1 follows lamp | first reward: agent | Bayes, true prior | Bayes, train prior |",
        "|" + " --- |" * 9,
    ]
    for (knob, split), g in table.groupby(["knob", "split"], sort=True):
        g = g.set_index("trial")
        one, two = g.loc[1], g.loc[2]
        lines.append(
            f"| {knob:.2f} | {split} | {int(one['seeds'])} | {_ci(one, 'reward')} | "
            f"{_ci(two, 'reward')} | {_ci(one, 'cued')} | {_ci(one, 'first')} | "
            f"{one['first_bayes']:.2f} | {one['first_bayes_train_prior']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--knobs", default="1/3,0.8", help="lamp reliabilities on training levels")
    p.add_argument("--seeds", type=int, default=5, help="seeds per knob (>= 5 for a claim)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: preset's)")
    p.add_argument("--levels", type=int, default=400, help="evaluation levels per split")
    p.add_argument("--workers", type=int, default=2, help="local training processes")
    p.add_argument("--out", default="runs/e05_in_context", help="folder of the run folders")
    args = p.parse_args(argv)
    try:
        knobs = [_knob(k) for k in args.knobs.split(",")]
        if args.levels < 1 or (args.steps is not None and args.steps < 1):
            raise ConfigError("steps and levels must be positive")
        extra = {} if args.steps is None else {"total_steps": args.steps}
        configs = sweep_configs(PRESET, knobs, args.seeds, args.workers, **extra)
        # Every file and folder written under --out, checked now rather than after the training.
        out = check_out_folder(
            "--out", args.out, [RUNS, CELLS, *figure_files(FIGURE)], ["runs", "curves"]
        )
    except (ConfigError, ValueError) as e:
        return fail("e05_in_context", e)
    run_sweep(configs, out / "runs", workers=args.workers, baselines=False, stream=sys.stderr)
    wanted = {round(k, 9) for k in knobs}
    finished, frames, start = finished_runs(out / "runs")[0], [], time.perf_counter()
    for i, run in enumerate(finished, 1):
        frames.append(_per_run(run, out, args.levels))
        print(job_line(i, len(finished), start, f"curves: {run.name}"), file=sys.stderr)
    runs = pd.concat(frames, ignore_index=True)
    runs = runs[runs["knob"].round(9).isin(wanted)]
    table = cells(runs)
    finish(out, {RUNS: runs, CELLS: table}, lambda: figure(table, out / FIGURE), markdown(table))
    print(f"\nfigure {out / f'{FIGURE}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
