"""Figures from run folders (png + pdf, matplotlib, headless), and the deploy GIF.

reward_result_gap(summary, path)   per split and agent: the reward-result gap of its own returns
                                   (base score - proxy score), t-intervals over seeds
knob_curve(summary, task, path)    deploy scores vs the training knob (t-intervals at >= 5 seeds,
                                   else every seed as a point)
learning_curves(logs, path)        every objective over training, mean and range over seeds
visitation(run_dir, path)          where the agent goes on deploy levels, over the levels
deploy_gif(run_dir, path)          the agent on the first deploy evaluation level
plot_all(root)                     all of them for every run under root
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import interval_errors, mark_bars, save_figure
from mesaworld.analysis.labels import MARGIN
from mesaworld.analysis.metrics import GROUP, format_table, gap_table, run_summary, t_interval
from mesaworld.analysis.run_figures import episode_gif, visitation
from mesaworld.analysis.runfolder import FIGURES, SCORE, eval_arrays
from mesaworld.analysis.runs import finished_runs, load_runs, load_train_logs
from mesaworld.envs.registry import TASKS

_ROLE_COLOURS = {"aligned": "#2b8a3e", "proxy": "#c92a2a", "random": "#868e96"}


def _label(row: pd.Series) -> str:
    if row["role"] != "trained":
        return str(row["agent"])
    return f"{row['agent']} knob={row['knob']:g} ({row['total_steps'] / 1e6:.2g}M)"


_HATCHES = ["", "//", "xx", ".."]
# The runs of one cell differ only in seed (and are scored on the same evaluation levels).
_CELL = [*GROUP, "eval_seed", "episodes"]
_ROLE_ORDER = {"aligned": 0, "proxy": 1, "random": 2}


def own_gaps(summary: pd.DataFrame) -> pd.DataFrame:
    """The reward-result gap from the agents' own returns, one row per (cell, split, proxy):
    per run base score - proxy score (`score/<k>`: 0 = the random agent, 1 = that objective's
    optimum; the gap `plot`'s labels read, `mesaworld.analysis.metrics.run_evidence`), then the
    mean over seeds with a 95% t-interval over seeds (`gap`, `gap:lo`, `gap:hi`, `seeds`).
    NaN where a score is missing (no random baseline on those levels)."""
    rows = []
    for key, part in summary.groupby(_CELL, dropna=False, sort=False):
        cell = dict(zip(_CELL, key))
        for proxy in TASKS[cell["task"]].objectives[1:]:
            per_run = (part[f"{SCORE}base"] - part.get(f"{SCORE}{proxy}", np.nan)).to_numpy(float)
            finite = per_run[np.isfinite(per_run)]
            lo, hi = t_interval(per_run)
            mean = float(finite.mean()) if len(finite) else float("nan")
            seeds = int(part["seed"].nunique())
            rows.append(cell | {"proxy": proxy, "gap": mean, "gap:lo": lo, "gap:hi": hi})
            rows[-1]["seeds"] = seeds
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["_o"] = out["role"].map(_ROLE_ORDER).fillna(3)
    keys = ["task", "_o", "agent", "knob", "reward", "total_steps"]
    return out.sort_values(keys, kind="stable").drop(columns="_o").reset_index(drop=True)


def _seeds_text(counts) -> str:
    counts = sorted({int(c) for c in counts})
    if not counts:
        return "n = 0 seeds"
    if len(counts) == 1:
        return f"n = {counts[0]} seed{'s' if counts[0] != 1 else ''} per bar"
    return f"n = {counts[0]}-{counts[-1]} seeds per bar (under each agent)"


def reward_result_gap(summary: pd.DataFrame, path: Path) -> list[Path]:
    """The reward-result gap as the README defines it, base score - proxy score, here of each
    agent's own returns (`own_gaps`; `mesaworld analyze` reads it from the behavioral
    objective's policy instead): per split, a bar per agent and proxy (mean over seeds, 95%
    t-interval over seeds), "n/a" where no score can be computed."""
    gaps = own_gaps(summary)
    splits = [s for s in ("train", "deploy") if s in set(summary["split"])]
    cells = gaps.drop_duplicates([c for c in _CELL if c != "split"]) if len(gaps) else gaps
    agents = list(dict.fromkeys(_label(r) for _, r in cells.iterrows()))
    n_of = {_label(r): r["seeds"] for _, r in cells.iterrows()}
    proxies = list(dict.fromkeys(gaps["proxy"])) if len(gaps) else []
    fig, axes = plt.subplots(
        1,
        len(splits),
        figsize=(max(4.5, 0.9 * len(agents) + 1.5) * len(splits), 5.2),
        sharey=True,
        squeeze=False,
    )
    width = 0.8 / max(len(proxies), 1)
    ends = gaps[["gap", "gap:lo", "gap:hi"]].to_numpy(float).ravel() if len(gaps) else []
    ends = [e for e in ends if np.isfinite(e)]
    limits = (min([-MARGIN - 0.1, *ends]) - 0.05, max([0.2, *ends]) + 0.05)
    for ax, split in zip(axes[0], splits):
        part = gaps[gaps["split"] == split] if len(gaps) else gaps
        for j, proxy in enumerate(proxies):
            rows = part[part["proxy"] == proxy]
            x = np.array([agents.index(_label(r)) for _, r in rows.iterrows()], float)
            x += (j - (len(proxies) - 1) / 2) * width
            y = rows["gap"].to_numpy(float)
            ax.bar(
                x,
                np.nan_to_num(y),
                width,
                yerr=interval_errors(y, rows["gap:lo"], rows["gap:hi"]),
                color=[_ROLE_COLOURS.get(r, "#1c7ed6") for r in rows["role"]],
                edgecolor="black",
                hatch=_HATCHES[j % 4],
                capsize=3,
            )
            mark_bars(ax, x, y)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.axhline(-MARGIN, color="#c92a2a", lw=0.8, ls=":")
        ax.set_ylim(*limits)
        ax.set_xticks(range(len(agents)))
        ax.set_xticklabels(
            [f"{a} (n={n_of[a]})" for a in agents], rotation=30, ha="right", fontsize=7
        )
        ax.set_xlabel("agent (n = seeds)", fontsize=8)
        ax.set_title(f"{split} levels", fontsize=10)
        ax.set_ylabel("reward-result gap:\nbase score - proxy score", fontsize=9)
        ax.tick_params(axis="y", labelleft=True)
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch=_HATCHES[j % 4])
        for j in range(len(proxies))
    ]
    handles.append(plt.Line2D([], [], color="#c92a2a", lw=0.8, ls=":"))
    fig.legend(
        handles,
        [f"proxy: {p}" for p in proxies] + [f"{-MARGIN:g}: proxy pursued (label rule)"],
        fontsize=8,
        loc="upper center",
        ncol=len(proxies) + 1,
        bbox_to_anchor=(0.5, 0.95),
        frameon=False,
    )
    fig.suptitle(
        "Reward-result gap of each agent's own returns, before and after the shift",
        fontsize=11,
        y=0.99,
    )
    fig.subplots_adjust(top=0.84, bottom=0.4, wspace=0.3)
    note = (
        "gap = base score - proxy score (score: 0 = random agent, 1 = optimal for that "
        "objective); < 0: the agent serves the proxy better than the base objective. Bars: mean "
        f"over seeds, {_seeds_text(gaps['seeds'] if len(gaps) else [])}; whiskers: 95% "
        "t-interval over seeds (none for one seed); n/a: no score (no random baseline on these "
        "levels). On train levels base and proxy pay alike, so the gap is about 0 there."
    )
    width_chars = int(fig.get_figwidth() * 15)
    fig.text(0.5, 0.01, textwrap.fill(note, width_chars), ha="center", va="bottom", fontsize=8)
    return save_figure(fig, path)


MIN_SEEDS_FOR_INTERVAL = 5  # the README's minimum for a claim; below it, seeds as points


def knob_curve(summary: pd.DataFrame, task: str, path: Path) -> list[Path]:
    """Deploy-level scores of trained agents against the training knob: the base objective and
    every proxy, each scored from the random agent (0) to its own optimum (1); without a random
    baseline in the root, as a fraction of the optimal base return. With >= 5 seeds per point:
    the mean and its 95% t-interval over seeds; with fewer, every seed as a point and a line
    through their means, no interval. The shape of the published knob figures (e.g. Langosco's
    corner-size plot)."""
    part = summary[
        (summary["task"] == task) & (summary["role"] == "trained") & (summary["split"] == "deploy")
    ]
    scored = f"{SCORE}base" in part and part[f"{SCORE}base"].notna().any()
    prefix = SCORE if scored else "norm/"
    metrics = [
        k for k in TASKS[task].objectives if prefix + k in part and part[prefix + k].notna().any()
    ]
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    counts, points = [], False
    curves = ["agent", "total_steps", "reward", "eval_seed", "episodes"]
    colour = 0
    for (agent, steps, reward, *_), rows in part.groupby(curves, dropna=False, sort=True):
        per_knob = list(rows.groupby("knob", sort=True))
        n = min(g["seed"].nunique() for _, g in per_knob)
        counts += [g["seed"].nunique() for _, g in per_knob]
        for m in metrics:
            c = f"C{colour % 10}"
            colour += 1
            knobs = np.array([k for k, _ in per_knob], float)
            means = np.array([g[prefix + m].mean() for _, g in per_knob], float)
            name = (
                f"{m} ({'base objective' if m == 'base' else 'proxy'}), {agent} {steps / 1e6:.2g}M"
            )
            if reward != TASKS[task].task_cls.reward:
                name += f", reward {reward}"
            if n >= MIN_SEEDS_FOR_INTERVAL:
                ends = np.array([t_interval(g[prefix + m].to_numpy()) for _, g in per_knob])
                err = interval_errors(means, ends[:, 0], ends[:, 1])
                ax.errorbar(knobs, means, yerr=err, marker="o", capsize=3, color=c, label=name)
            else:
                points = True
                ax.plot(
                    knobs, means, marker="_", ms=12, color=c, label=f"{name} (mean; dots: seeds)"
                )
                for k, g in per_knob:
                    ax.scatter(np.full(len(g), k), g[prefix + m], s=12, color=c, alpha=0.6, lw=0)
    knob_name = TASKS[task].shift.knob_name
    ax.set_xlabel(f"training knob: {knob_name}")
    ax.set_ylabel(
        "deploy score (0 = random, 1 = optimal)" if scored else "deploy return / optimal base"
    )
    ax.axhline(0.0, color="black", lw=0.6)
    ax.legend(fontsize=6.5)
    values = part[[prefix + m for m in metrics]].to_numpy(float).ravel()
    values = values[np.isfinite(values)]
    ax.set_ylim(min([0.0, *values]) - 0.05, max([1.0, *values]) + 0.05)
    lo, hi = min(counts, default=0), max(counts, default=0)
    n_text = (
        f"n = {lo}-{hi} seeds per point"
        if lo != hi
        else f"n = {lo} seed" + ("s per point" if lo != 1 else " per point")
    )
    how = (
        f"each seed a dot (fewer than {MIN_SEEDS_FOR_INTERVAL}: no interval drawn)"
        if points
        else "bars: 95% t-interval over seeds"
    )
    if points and lo != hi and hi >= MIN_SEEDS_FOR_INTERVAL:
        how += f"; curves with >= {MIN_SEEDS_FOR_INTERVAL} seeds: 95% t-interval over seeds"
    what = "scores" if scored else "returns"
    ax.set_title(f"{task}: deploy {what} vs the training knob\n{n_text}; {how}", fontsize=9)
    return save_figure(fig, path)


def learning_curves(logs: pd.DataFrame, path: Path) -> list[Path]:
    """One panel per objective (and episode length): mean over seeds, shaded min-max."""
    cols = [c for c in logs.columns if c.startswith(("objective/", "measure/"))] + [
        "charts/episodic_length"
    ]
    fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 3.2), squeeze=False)
    seeds = logs.groupby(["preset", "knob", "total_steps"])["seed"].nunique()
    for (preset, knob, steps), part in logs.groupby(["preset", "knob", "total_steps"]):
        n = part["seed"].nunique()
        label = f"{preset} knob={knob:g} ({steps / 1e6:.2g}M steps, n = {n})"
        for ax, col in zip(axes[0], cols):
            curve = part.groupby("global_step")[col].agg(["mean", "min", "max"])
            line = ax.plot(curve.index, curve["mean"], label=label)[0]
            if n > 1:
                ax.fill_between(
                    curve.index, curve["min"], curve["max"], color=line.get_color(), alpha=0.2
                )
    for ax, col in zip(axes[0], cols):
        kind, name = col.split("/", 1)
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("environment steps")
        unit = "steps" if name == "episodic_length" else kind
        ax.set_ylabel(f"{unit} per episode", fontsize=8)
    axes[0][0].legend(fontsize=8, title="n = seeds per curve", title_fontsize=8)
    lo, hi = int(seeds.min()), int(seeds.max())
    n_text = f"n = {lo} seed{'s' if lo > 1 else ''}" if lo == hi else f"n = {lo}-{hi} seeds"
    spread = "; shaded: range (min to max) over seeds" if hi > 1 else ""
    fig.suptitle(
        f"Learning curves on train levels (mean over seeds, {n_text} per curve{spread})",
        fontsize=11,
        y=1.04,
    )
    return save_figure(fig, path)


def plot_all(root: str | Path, quiet: bool = False) -> list[Path]:
    """Every figure for every finished run under `root`: per run in <run>/figures/, across
    runs in <root>/figures/. Prints the summary table unless quiet. Returns the files."""
    root = Path(root)
    df = load_runs(root)
    summary = run_summary(df)
    table = gap_table(summary, root=str(root))
    if not quiet:
        print(format_table(table))
        for copy in df.attrs.get("duplicates", []):
            print(f"(left out, a copy of another run folder: {copy})")
    figures = root / FIGURES
    written = reward_result_gap(summary, figures / "reward_result_gap")
    trained = table[table["role"] == "trained"]
    for task, rows in trained.groupby("task"):
        if rows["knob"].nunique() > 1:  # a knob sweep: the published figure's shape
            written += knob_curve(summary, task, figures / f"knob_curve_{task}")
    logs = load_train_logs(root)
    if len(logs):
        written += learning_curves(logs, figures / "learning_curves")
    for run in finished_runs(root)[0]:
        if not (run / eval_arrays("deploy")).is_file():
            continue
        written += visitation(run, run / FIGURES / "deploy_visitation")
        written.append(episode_gif(run, run / FIGURES / "deploy_episode"))
    return written
