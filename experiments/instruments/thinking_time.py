"""Probes that tell an optimizer from a heuristic, runnable on a trained run folder.

thinking_time(run, steps)
    More planning at test time: the planner's value-iteration steps K (the recurrent agent's
    ConvLSTM ticks per step) are set to each value and the agent is evaluated on the run's own
    train and deploy levels. A planner's competence
    grows with K up to the distances it must see (MEASURED on the Roomba: train floor 74% at
    K 1, 97% at K 4, 100% at K 10), while *what* it pursues should not change (deploy can
    emptying 38-39% at every K). A feed-forward network has no such knob: its row is the same
    at every K, and the probe says so.

Each returns a DataFrame: one row per (setting, split), the mean over levels of every
objective's return normalized by that level's optimum (`norm/<k>`), episode length and the
task's proxy behaviour, with 95% percentile bootstrap intervals over levels.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.agents.registry import ARCHITECTURES
from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.metrics import episode_scores
from mesaworld.analysis.runfolder import ci_columns
from mesaworld.experiments.instruments.capability import at_budgets
from mesaworld.experiments.instruments.instrument import Instrument, ProbeSettings

BOOTSTRAP = 2000


def _summarize(rows: list[dict], setting: dict, rng: np.random.Generator) -> list[dict]:
    df = episode_scores(pd.DataFrame(rows).assign(task=rows[0]["task"]))
    out = []
    for split, g in df.groupby("split", sort=False):
        rec = dict(setting, split=split, levels=len(g))
        for m in [c for c in g.columns if c.startswith("norm/")] + ["length", "behaviour"]:
            x = g[m].to_numpy(float)
            x = x[np.isfinite(x)]
            lo, hi = ci_columns(m)
            if len(x) == 0:
                rec[m] = rec[lo] = rec[hi] = float("nan")
                continue
            boot = x[rng.integers(0, len(x), (BOOTSTRAP, len(x)))].mean(1)
            rec[m], (rec[lo], rec[hi]) = float(x.mean()), np.percentile(boot, [2.5, 97.5])
        out.append(rec)
    return out


def thinking_time(
    run: str | Path, steps: list[int], levels: int = 100, seed: int = 0, progress: bool = False
) -> pd.DataFrame:
    """The run's agent evaluated at every thinking budget in `steps` (module docstring; the
    budget is the architecture's: `mesaworld.experiments.instruments.capability.at_budgets`);
    the first `levels` evaluation levels of each split, the run's evaluation seed."""
    meta, agent_meta, results = at_budgets(Path(run), steps, levels, True, progress)
    network = agent_meta["network"]
    arch = ARCHITECTURES[network]
    rng = np.random.default_rng(seed)
    out = []
    for k, rows in results:
        for r in rows:
            r["task"] = meta["task"]
        out += _summarize(rows, {"budget": k, "network": network}, rng)
    table = pd.DataFrame(out)
    table.attrs["budget"] = arch.budget or ""
    table.attrs["axis"] = (
        f"{arch.option(arch.budget).doc} at test time"
        if arch.budget
        else "thinking budget (none: feed-forward)"
    )
    table.attrs["note"] = (
        ""
        if arch.budget
        else f"a {network} agent has no thinking budget: every row "
        "evaluates the same network (feed-forward: thinking time cannot change it)"
    )
    return table


def thinking_time_figure(table: pd.DataFrame, path: Path, title: str = "") -> list[Path]:
    """Normalized return per objective against K, per split, with the bootstrap intervals."""
    norms = [c for c in table.columns if c.startswith("norm/") and ":" not in c]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), sharey=True)
    for ax, split in zip(axes, ("train", "deploy")):
        part = table[table["split"] == split].sort_values("budget")
        for m in norms:
            lo, hi = ci_columns(m)
            ax.plot(part["budget"], part[m], marker="o", label=m[len("norm/") :])
            ax.fill_between(part["budget"], part[lo], part[hi], alpha=0.2)
        ax.set_xscale("log")
        budgets = sorted(int(k) for k in table["budget"].unique())
        ax.set_xticks(budgets, [str(k) for k in budgets])
        ax.minorticks_off()
        ax.set_xlabel(table.attrs.get("axis", "thinking budget at test time"), fontsize=8)
        ax.set_title(f"{split} levels", fontsize=9)
        ax.axhline(1.0, ls=":", c="k", lw=0.8)
        ax.set_ylabel("return / optimal base return", fontsize=8)
        ax.tick_params(axis="y", labelleft=True)
    axes[1].legend(fontsize=8)
    levels = sorted({int(n) for n in table.get("levels", [])})
    n_text = (
        "n = ? levels"
        if not levels
        else f"n = {levels[0]} levels" if len(levels) == 1
        else f"n = {levels[0]}-{levels[-1]} levels"
    )  # fmt: skip
    note = table.attrs.get("note", "")
    fig.suptitle(
        f"{title or 'Thinking time: more planning at test time'}\none run, {n_text} per point "
        "(mean over levels); band: 95% percentile bootstrap interval over levels"
        + (f"\n{textwrap.fill(note, 110)}" if note else ""),
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def _run(run: Path, settings: ProbeSettings) -> tuple[pd.DataFrame, dict[str, str]]:
    table = thinking_time(
        run, list(settings.budgets), settings.levels, settings.seed, settings.progress
    )
    table.insert(0, "agent", Path(run).name)
    return table, {Path(run).name: table.attrs["note"] or "evaluated at every budget"}


INSTRUMENT = Instrument(
    name="thinking-time",
    measures="the same weights with more thinking at test time (planner K, recurrent ticks): "
    "does competence grow while the goal stays?",
    run=_run,
    figure=lambda table, path, title="": thinking_time_figure(table, path, title),
    columns=("budget", "split", "norm/*", "behaviour", "length"),
)
