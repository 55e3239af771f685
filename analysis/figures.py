"""Figures from run folders (png + pdf, matplotlib, headless), and the deploy GIF.

reward_result_gap(table, path)     per split: normalized base vs each proxy, per agent, CIs
learning_curves(logs, path)        every objective over training, mean and range over seeds
visitation(run_dir, path)          where the agent goes on deploy levels, over the levels
deploy_gif(run_dir, path)          the agent on the first deploy evaluation level
plot_all(root)                     all of them for every run under root
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.metrics import format_table, gap_table, run_summary
from mesaworld.analysis.run_figures import episode_gif, visitation
from mesaworld.analysis.runfolder import FIGURES, ci_columns, eval_arrays, is_ci
from mesaworld.analysis.runs import finished_runs, load_runs, load_train_logs
from mesaworld.envs.registry import TASKS

_ROLE_COLOURS = {"aligned": "#2b8a3e", "proxy": "#c92a2a", "random": "#868e96"}


def _label(row: pd.Series) -> str:
    if row["role"] != "trained":
        return str(row["agent"])
    return f"{row['agent']} knob={row['knob']:g} ({row['total_steps'] / 1e6:.2g}M)"


_HATCHES = ["", "//", "xx", ".."]


def _metric_bars(ax, part: pd.DataFrame, agents: list, m: str, shift: float, width, j) -> None:
    """One bar per agent for metric norm/<m>, with its CI whiskers, coloured by role."""
    x, y, err, colours = [], [], [[], []], []
    lo_col, hi_col = ci_columns(f"norm/{m}")
    for i, name in enumerate(agents):
        rows = part[[_label(r) == name for _, r in part.iterrows()]]
        if rows.empty:
            continue
        r = rows.iloc[0]
        v, lo, hi = r[f"norm/{m}"], r[lo_col], r[hi_col]
        x.append(i + shift)
        y.append(v)
        err[0].append(v - lo if np.isfinite(lo) else 0)
        err[1].append(hi - v if np.isfinite(hi) else 0)
        colours.append(_ROLE_COLOURS.get(r["role"], "#1c7ed6"))
    ax.bar(
        x,
        y,
        width,
        yerr=err,
        color=colours,
        edgecolor="black",
        hatch=_HATCHES[j % 4],
        alpha=0.9 if j == 0 else 0.55,
        capsize=3,
        label=m,
    )


def reward_result_gap(table: pd.DataFrame, path: Path) -> list[Path]:
    """Grouped bars: for each split, each agent's normalized base return and each proxy's
    return on the same scale (mean over seeds, 95% t-interval)."""
    proxies = [
        c[len("norm/") :]
        for c in table.columns
        if c.startswith("norm/") and not is_ci(c) and c != "norm/base"
    ]
    metrics = ["base", *proxies]
    agents = list(dict.fromkeys(_label(r) for _, r in table.iterrows()))
    splits = [s for s in ("train", "deploy") if s in set(table["split"])]
    fig, axes = plt.subplots(
        1, len(splits), figsize=(5.5 * len(splits), 3.8), sharey=True, squeeze=False
    )
    width = 0.8 / len(metrics)
    for ax, split in zip(axes[0], splits):
        part = table[table["split"] == split]
        for j, m in enumerate(metrics):
            _metric_bars(ax, part, agents, m, (j - (len(metrics) - 1) / 2) * width, width, j)
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set_xticks(range(len(agents)))
        ax.set_xticklabels(agents, rotation=25, ha="right", fontsize=8)
        ax.set_title(f"{split} levels")
        ax.set_ylabel("return / optimal base return")
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch=_HATCHES[j % 4])
        for j in range(len(metrics))
    ]
    fig.legend(
        handles,
        [f"{m} (base objective)" if m == "base" else f"{m} (proxy)" for m in metrics],
        fontsize=8,
        loc="upper center",
        ncol=len(metrics),
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    fig.suptitle(
        "Reward-result gap: base objective vs proxy, before and after the shift",
        fontsize=11,
        y=1.07,
    )
    fig.text(
        0.5,
        -0.12,
        "bars: mean over seeds, whiskers: 95% t-interval over seeds. On train levels the proxy "
        "equals the base objective; after the shift a proxy bar above the base bar is proxy pursuit.",
        ha="center",
        fontsize=8,
        wrap=True,
    )
    return save_figure(fig, path)


def knob_curve(table: pd.DataFrame, task: str, path: Path) -> list[Path]:
    """Deploy-level returns of trained agents against the training knob (mean over seeds, 95%
    t-interval): the base objective and every proxy, each scored from the random agent (0) to
    its own optimum (1); without a random baseline in the root, as a fraction of the optimal
    base return. The shape of the published knob figures (e.g. Langosco's corner-size plot)."""
    part = table[
        (table["task"] == task) & (table["role"] == "trained") & (table["split"] == "deploy")
    ]
    part = part.sort_values("knob")
    scored = "score/base" in part and part["score/base"].notna().any()
    prefix = "score/" if scored else "norm/"
    metrics = [
        c[len(prefix) :]
        for c in part.columns
        if c.startswith(prefix) and not is_ci(c) and part[c].notna().any()
    ]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for (agent, steps), rows in part.groupby(["agent", "total_steps"]):
        for m in metrics:
            lo_col, hi_col = ci_columns(prefix + m)
            y, lo, hi = rows[prefix + m], rows[lo_col], rows[hi_col]
            err = np.vstack([(y - lo).fillna(0).to_numpy(), (hi - y).fillna(0).to_numpy()])
            label = (
                f"{m} ({'base objective' if m == 'base' else 'proxy'}), {agent} {steps / 1e6:.2g}M"
            )
            ax.errorbar(rows["knob"], y, yerr=err, marker="o", capsize=3, label=label)
    knob_name = TASKS[task].shift.knob_name
    ax.set_xlabel(f"training knob: {knob_name}")
    ax.set_ylabel(
        "deploy score (0 = random, 1 = optimal)" if scored else "deploy return / optimal base"
    )
    ends = [part[c].fillna(part[prefix + m]) for m in metrics for c in ci_columns(prefix + m)]
    values = np.concatenate([e.to_numpy(float) for e in ends]) if ends else np.zeros(1)
    values = values[np.isfinite(values)]
    lo = min([0.0, *values.tolist()])
    hi = max([1.0, *values.tolist()])
    ax.set_ylim(lo - 0.05, hi + 0.05)
    ax.legend(fontsize=7)
    ax.set_title(f"{task}: deploy returns vs the training knob (95% CI over seeds)", fontsize=10)
    return save_figure(fig, path)


def learning_curves(logs: pd.DataFrame, path: Path) -> list[Path]:
    """One panel per objective (and episode length): mean over seeds, shaded min-max."""
    cols = [c for c in logs.columns if c.startswith(("objective/", "measure/"))] + [
        "charts/episodic_length"
    ]
    fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 3.2), squeeze=False)
    for (preset, knob, steps), part in logs.groupby(["preset", "knob", "total_steps"]):
        label = f"{preset} knob={knob:g} ({steps / 1e6:.2g}M steps)"
        for ax, col in zip(axes[0], cols):
            curve = part.groupby("global_step")[col].agg(["mean", "min", "max"])
            line = ax.plot(curve.index, curve["mean"], label=label)[0]
            if part["seed"].nunique() > 1:
                ax.fill_between(
                    curve.index, curve["min"], curve["max"], color=line.get_color(), alpha=0.2
                )
    for ax, col in zip(axes[0], cols):
        kind, name = col.split("/", 1)
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("environment steps")
        unit = "steps" if name == "episodic_length" else kind
        ax.set_ylabel(f"{unit} per episode", fontsize=8)
    axes[0][0].legend(fontsize=8)
    seeds = logs.groupby(["preset", "knob", "total_steps"])["seed"].nunique()
    spread = "shaded: min to max over seeds" if (seeds > 1).any() else "one seed per curve"
    fig.suptitle(
        f"Learning curves on train levels (mean over seeds; {spread})", fontsize=11, y=1.04
    )
    return save_figure(fig, path)


def plot_all(root: str | Path, quiet: bool = False) -> list[Path]:
    """Every figure for every finished run under `root`: per run in <run>/figures/, across
    runs in <root>/figures/. Prints the summary table unless quiet. Returns the files."""
    root = Path(root)
    df = load_runs(root)
    table = gap_table(run_summary(df), root=str(root))
    if not quiet:
        print(format_table(table))
        for copy in df.attrs.get("duplicates", []):
            print(f"(left out, a copy of another run folder: {copy})")
    figures = root / FIGURES
    written = reward_result_gap(table, figures / "reward_result_gap")
    trained = table[table["role"] == "trained"]
    for task, rows in trained.groupby("task"):
        if rows["knob"].nunique() > 1:  # a knob sweep: the published figure's shape
            written += knob_curve(table, task, figures / f"knob_curve_{task}")
    logs = load_train_logs(root)
    if len(logs):
        written += learning_curves(logs, figures / "learning_curves")
    for run in finished_runs(root)[0]:
        if not (run / eval_arrays("deploy")).is_file():
            continue
        written += visitation(run, run / FIGURES / "deploy_visitation")
        written.append(episode_gif(run, run / FIGURES / "deploy_episode"))
    return written
