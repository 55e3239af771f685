"""Experiment 8: belief updating told apart from elimination in a learned learning algorithm.

Meta-trains the LSTM agent on `which-object-noisy` (preset `which-object-noisy-lstm`: 8 trials
per episode, the prize pays half the time it is touched, 2M steps) at each lamp reliability (the
knob), 5 seeds each. With frozen weights, every run plays one episode per evaluation level of its
training distribution and of deploy (where the lamp lies), and is read against the exact
Bayesian learner and the elimination heuristic (`mesaworld.experiments.instruments.belief_updating`):
how often it goes back to the lamp's colour after k misses there (Bayes: twice at lamp 0.8, once
at 0.6, never at 1/3; elimination: never), and what its prior costs at deploy. Per cell: mean
and 95% t-interval over seeds. Writes <out>/rows/<run>.csv as it goes (run again and only what is
missing is done), belief_runs.csv, belief_cells.csv and belief_updating.png/pdf, and prints the
README tables.

    python -m mesaworld.experiments.e08_belief_updating                        # 3 knobs x 5 seeds
    python -m mesaworld.experiments.e08_belief_updating --from-runs docs/results/e08_belief_runs.csv --out /tmp/e08
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns
from mesaworld.analysis.runs import finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.envs.tasks.which_object_noisy import PAYOFF, TRIALS
from mesaworld.experiments.e05_in_context import _knob
from mesaworld.experiments.instruments.belief_updating import (
    PERSIST_K,
    RULES,
    agreement,
    read_run,
    telling_states,
)
from mesaworld.experiments.report import check_out_folder, fail, figure_files, finish
from mesaworld.experiments.training.config import ConfigError
from mesaworld.experiments.training.progress import job_line
from mesaworld.experiments.training.sweep import run_sweep, sweep_configs

PRESET = "which-object-noisy-lstm"
REFS = ("bayes", "bayes_train", "elimination")
REFS += tuple(f"{r}_levels" for r in REFS)  # the same learners on the agent's own levels
KEY = ["knob", "split", "measure", "index"]
MIN_EPISODES = 20  # a seed's persistence counts where it rests on this many episodes
RUNS, CELLS, FIGURE = "belief_runs.csv", "belief_cells.csv", "belief_updating"  # under --out
DECISIONS, RULES_TABLE, STATES = "belief_decisions.csv", "belief_rules.csv", "belief_states.csv"


def _per_run(run: Path, root: Path, levels: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One run's rows and decisions (cached under <root>/rows and <root>/decisions; the
    decisions are written first, so a cached row file means both are there)."""
    rows_file = root / "rows" / f"{run.name}.csv"
    decs_file = root / "decisions" / f"{run.name}.csv"
    if rows_file.is_file() and decs_file.is_file():
        return pd.read_csv(rows_file), pd.read_csv(decs_file)
    rows, decs = read_run(run, levels)
    rows, decs = rows.assign(run=run.name), decs.assign(run=run.name)
    for path, frame in ((decs_file, decs), (rows_file, rows)):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, frame.to_csv(index=False))
    return rows, decs


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (knob, split, measure, index): the agent's mean and 95% t-interval over seeds (for
    persistence, only seeds with >= MIN_EPISODES episodes to count: `seeds` says how many), the
    episodes counted in all, and the exact references (on own levels: averaged over runs)."""
    out = []
    for key, g in runs.groupby(KEY, sort=True):
        x = g["agent"].to_numpy(float)
        if key[2] == "persist":  # a seed's share counts where it rests on enough episodes
            x = np.where(g["n"].to_numpy() >= MIN_EPISODES, x, np.nan)
        lo, hi = ci_columns("agent")
        rec = dict(zip(KEY, key)) | {"seeds": int(np.isfinite(x).sum()), "n": int(g["n"].sum())}
        rec["runs"], rec["steps"] = g["run"].nunique(), int(g["steps"].max())
        rec["agent"] = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
        rec[lo], rec[hi] = t_interval(x)
        out.append(rec | {r: float(g[r].mean()) for r in REFS})  # runs may differ in levels
    return pd.DataFrame(out)


def _get(table: pd.DataFrame, knob: float, split: str, measure: str, index: int) -> pd.Series:
    hit = table[
        (table["knob"].round(9) == round(knob, 9)) & (table["split"] == split)
        & (table["measure"] == measure) & (table["index"] == index)
    ]  # fmt: skip
    if len(hit) != 1:
        raise ValueError(f"no single cell for knob {knob} {split} {measure} {index}")
    return hit.iloc[0]


def _ci(row: pd.Series, digits: int = 2) -> str:
    lo, hi = ci_columns("agent")
    f = f"{{:.{digits}f}}"
    if not np.isfinite(row[lo]):
        return f.format(row["agent"]) if np.isfinite(row["agent"]) else "n/a"
    return f"{f.format(row['agent'])} [{f.format(row[lo])}, {f.format(row[hi])}]"


def markdown(table: pd.DataFrame) -> str:
    """The README's two tables: persistence after misses (both splits pooled), then trial 1,
    payments per episode on train levels and the first payment at deploy."""
    knobs = sorted(table["knob"].unique())
    lines = [
        "| lamp reliability (train) | k misses on the lamp's colour | seeds | episodes "
        "| again in trial k + 1: agent | Bayes | elimination |",
        "|" + " --- |" * 7,
    ]
    for knob in knobs:
        for k in PERSIST_K:
            c = _get(table, knob, "both", "persist", k)
            bayes = c["bayes_train"]
            tie = f"tie ({bayes:.2f})" if 0 < bayes < 1 else f"{bayes:.2f}"  # indifferent
            lines.append(
                f"| {knob:.2f} | {k} | {int(c['seeds'])} | {int(c['n'])} | {_ci(c)} | "
                f"{tie} | {c['elimination']:.2f} |"
            )
    lines += ["", "| lamp reliability (train) | trial 1 follows lamp: agent | Bayes | "
              "train payments per episode: agent | Bayes | elimination | deploy first payment: "
              "agent | Bayes, train prior | elimination | Bayes, true prior |",
              "|" + " --- |" * 10]  # fmt: skip
    # Payments and first payment: the learners on exactly the agent's levels (`_levels`).
    for knob in knobs:
        f = _get(table, knob, "train", "follow", 0)
        t = _get(table, knob, "train", "total", 0)
        d = _get(table, knob, "deploy", "first", 0)
        lines.append(
            f"| {knob:.2f} | {_ci(f)} | {f['bayes_train']:.2f} | {_ci(t)} | "
            f"{t['bayes_levels']:.2f} | {t['elimination_levels']:.2f} | {_ci(d)} | "
            f"{d['bayes_train_levels']:.2f} | {d['elimination_levels']:.2f} | "
            f"{d['bayes_levels']:.2f} |"
        )
    return "\n".join(lines)


def rules_markdown(agree: pd.DataFrame, states: pd.DataFrame) -> str:
    """Which rule predicts the choices (per knob: mean [95% t over seeds] of each seed's share
    of its pre-payment choices the rule allows), then the states where Bayes and the count
    rule disagree."""
    lines = ["| lamp reliability (train) | seeds | choices | Bayes | count rule (fitted N) | "
             "elimination |", "|" + " --- |" * 6]  # fmt: skip
    for knob, g in agree.groupby("knob"):
        cell = {}
        for rule in RULES:
            x = g[g["rule"] == rule]["agreement"].to_numpy(float)
            lo, hi = t_interval(x)
            cell[rule] = f"{x.mean():.2f} [{lo:.2f}, {hi:.2f}]"
        n_back = int(g["n_back"].iloc[0])
        lines.append(
            f"| {knob:.2f} | {g['run'].nunique()} | {int(g[g['rule'] == 'bayes']['decisions'].sum())} "
            f"| {cell['bayes']} | {cell['count']} (N = {n_back}) | {cell['elimination']} |"
        )
    lines += ["", "| lamp reliability (train) | misses: lamp, other, other | choices | went back: "
              "agent (runs' range) | Bayes | count rule | went back when the lamp's colour was "
              "tried longest ago (choices) | otherwise (choices) |", "|" + " --- |" * 8]  # fmt: skip

    def share(x: float, n: int) -> str:
        return f"{x:.2f} ({n})" if n else "n/a (0)"

    for r in states.itertuples(index=False):
        spread = "" if not r.runs else f" ({r.run_min:.2f}-{r.run_max:.2f}, {r.runs} runs)"
        lines.append(
            f"| {r.knob:.2f} | {r.lamp_misses}, {r.fewer}, {r.more} | {r.decisions} | "
            f"{r.agent:.2f}{spread} | {r.bayes:.2f} | {r.count:.2f} (N = {r.n_back}) | "
            f"{share(r.agent_oldest, r.decisions_oldest)} | "
            f"{share(r.agent_not_oldest, r.decisions_not_oldest)} |"
        )
    return "\n".join(lines)


def figure(table: pd.DataFrame, path: Path) -> list[Path]:
    """Left: P(back to the lamp's colour after k misses there), agents (95% t-interval over
    seeds, clipped to [0, 1]) against Bayes (dashed) and elimination (dotted, 0). Middle and
    right: payment per trial on train and deploy levels against the references."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    lo, hi = ci_columns("agent")
    knobs = sorted(table["knob"].unique())
    for i, knob in enumerate(knobs):
        c = f"C{i}"
        g = table[(table["knob"] == knob) & (table["measure"] == "persist")]
        g = g[(g["split"] == "both") & (g["seeds"] >= 1)].sort_values("index")
        x = g["index"].to_numpy() + (i - 1) * 0.06
        err = [g["agent"] - g[lo].clip(0, 1), g[hi].clip(0, 1) - g["agent"]]
        axes[0].errorbar(x, g["agent"], yerr=np.abs(err), marker="o", color=c, capsize=3,
                         label=f"LSTM, lamp {knob:.2f}")  # fmt: skip
        axes[0].plot(g["index"], g["bayes_train"], ls="--", marker="x", color=c,
                     label=f"Bayes ({knob:.2f})")  # fmt: skip
        for ax, split in zip(axes[1:], ("train", "deploy")):
            r = table[(table["knob"] == knob) & (table["split"] == split)]
            r = r[r["measure"] == "reward"].sort_values("index")
            ax.plot(r["index"], r["agent"], marker="o", color=c, label=f"LSTM, lamp {knob:.2f}")
            ax.fill_between(r["index"], r[lo].clip(0, 1), r[hi].clip(0, 1), color=c, alpha=0.2)
            ax.plot(r["index"], r["bayes_train_levels"], ls="--", color=c,
                    label=f"Bayes, train prior ({knob:.2f})")  # fmt: skip
            ax.plot(r["index"], r["elimination_levels"], ls=":", color=c,
                    label=f"elimination ({knob:.2f})")  # fmt: skip
    axes[0].axhline(0, color="grey", ls=":", lw=1, label="elimination (all lamps)")
    axes[0].set_xticks(list(PERSIST_K))
    axes[0].set_xlabel("k: misses on the lamp's colour in trials 1..k")
    axes[0].set_ylabel("P(the lamp's colour again in trial k + 1)")
    axes[0].set_title("belief updating vs elimination (train + deploy levels)", fontsize=9)
    axes[0].set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize=7)
    for ax, split in zip(axes[1:], ("train", "deploy")):
        what = "the lamp lies" if split == "deploy" else "each run's training lamp"
        ax.set_title(f"{split} levels ({what})", fontsize=9)
        ax.set_xlabel("trial within the episode (frozen weights)")
        ax.set_ylabel("P(payment) in the trial")
        ax.set_xticks(range(1, TRIALS + 1))
        ax.set_ylim(-0.03, PAYOFF + 0.1)
    axes[2].legend(fontsize=6, loc="lower right")
    runs = sorted({int(n) for n in table["runs"]})
    n_text = f"n = {runs[-1]}" if len(runs) == 1 else f"n = {runs[0]}-{runs[-1]}"
    steps = sorted({int(s) for s in table["steps"]})
    fig.suptitle(
        f"which-object-noisy (the prize pays {PAYOFF:.0%} of touches, {TRIALS} trials), LSTM "
        f"meta-trained {'/'.join(f'{s:,}' for s in steps)} steps\nmean over {n_text} seeds per "
        f"knob (a persistence point: the seeds with >= {MIN_EPISODES} episodes to count there); "
        "bars and bands: 95% "
        "t-interval over seeds, clipped to [0, 1]; Bayes and elimination: exact (payments: on "
        "the agents' own evaluation levels)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--knobs", default="1/3,0.6,0.8", help="lamp reliabilities on training levels")
    p.add_argument("--seeds", type=int, default=5, help="seeds per knob (>= 5 for a claim)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: preset's)")
    p.add_argument("--levels", type=int, default=400, help="evaluation levels per split")
    p.add_argument("--workers", type=int, default=2, help="local training processes")
    p.add_argument("--out", default="runs/e08_belief", help="folder of the run folders")
    p.add_argument("--from-runs", default=None, help="a belief_runs.csv: tables only, no training")
    p.add_argument("--from-decisions", default=None,
                   help="with --from-runs: its decisions CSV (default: beside it, _decisions)")  # fmt: skip
    args = p.parse_args(argv)
    try:
        knobs = [_knob(k) for k in args.knobs.split(",")]
        if args.levels < 1 or (args.steps is not None and args.steps < 1):
            raise ConfigError("steps and levels must be positive")
        extra = {} if args.steps is None else {"total_steps": args.steps}
        configs = sweep_configs(PRESET, knobs, args.seeds, args.workers, **extra)
        files = [RUNS, CELLS, DECISIONS, RULES_TABLE, STATES, *figure_files(FIGURE)]
        out = check_out_folder("--out", args.out, files, ["runs", "rows", "decisions"])
        if args.from_runs is not None:
            runs = pd.read_csv(args.from_runs)
            missing = {*KEY, "agent", "n", "run", "steps", *REFS} - set(runs.columns)
            if missing:
                raise ConfigError(f"--from-runs: {args.from_runs} lacks columns {sorted(missing)}")
            dec_file = args.from_decisions or args.from_runs.replace("_runs.csv", "_decisions.csv")
            decs = pd.read_csv(dec_file)
            missing = {"knob", "run", "lamp_misses", "fewer", "more", "trial", "oldest_lamp"}
            missing |= {"choice", "count"}
            if missing - set(decs.columns):
                raise ConfigError(f"{dec_file} lacks columns {sorted(missing - set(decs.columns))}")
    except (ConfigError, ValueError, OSError) as e:
        return fail("e08_belief_updating", e)
    if args.from_runs is None:
        run_sweep(configs, out / "runs", workers=args.workers, baselines=False, stream=sys.stderr)
        finished, frames, start = finished_runs(out / "runs")[0], [], time.perf_counter()
        for i, run in enumerate(finished, 1):
            frames.append(_per_run(run, out, args.levels))
            print(job_line(i, len(finished), start, f"read: {run.name}"), file=sys.stderr)
        wanted = {round(k, 9) for k in knobs}
        runs, decs = (pd.concat(f, ignore_index=True) for f in zip(*frames))
        runs = runs[runs["knob"].round(9).isin(wanted)]
        decs = decs[decs["knob"].round(9).isin(wanted)]
    table, agree, states = cells(runs), agreement(decs), telling_states(decs)
    tables = {RUNS: runs, CELLS: table, DECISIONS: decs, RULES_TABLE: agree, STATES: states}
    text = markdown(table) + "\n\n" + rules_markdown(agree, states)
    finish(out, tables, lambda: figure(table, out / FIGURE), text)
    print(f"\nfigure {out / f'{FIGURE}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
