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

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.metrics import episode_scores
from mesaworld.analysis.runfolder import ci_columns, read_config
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.evaluate import EvalSettings, TorchPolicy, evaluate

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
    run: str | Path, steps: list[int], levels: int = 100, seed: int = 0
) -> pd.DataFrame:
    """The run's agent evaluated at every value-iteration budget in `steps` (module
    docstring); the first `levels` evaluation levels of each split, the run's evaluation seed."""
    run = Path(run)
    if not steps or min(steps) < 1:
        raise ValueError("steps: give one or more positive integers")
    meta = read_config(run)
    agent, agent_meta = load_agent(run)
    settings = EvalSettings(eval_seed=meta["eval"]["eval_seed"], levels=levels)
    planner = agent_meta["network"] in ("planner", "recurrent")
    rng = np.random.default_rng(seed)
    out = []
    for k in steps:
        if agent_meta["network"] == "planner":
            agent.plan_steps = int(k)
        elif agent_meta["network"] == "recurrent":
            agent.ticks = int(k)
        rows, _ = evaluate(TorchPolicy(agent, agent_meta["view"]), meta["task"], settings)
        for r in rows:
            r["task"] = meta["task"]
        out += _summarize(rows, {"plan_steps": k, "network": agent_meta["network"]}, rng)
    table = pd.DataFrame(out)
    table.attrs["knob"] = {
        "planner": "value-iteration steps K at test time",
        "recurrent": "ConvLSTM ticks per step at test time",
    }.get(agent_meta["network"], "planning budget (none: feed-forward)")
    table.attrs["note"] = (
        ""
        if planner
        else f"a {agent_meta['network']} agent has no planning steps: every row "
        "evaluates the same network (feed-forward: thinking time cannot change it)"
    )
    return table


def thinking_time_figure(table: pd.DataFrame, path: Path, title: str = "") -> list[Path]:
    """Normalized return per objective against K, per split, with the bootstrap intervals."""
    norms = [c for c in table.columns if c.startswith("norm/") and ":" not in c]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, split in zip(axes, ("train", "deploy")):
        part = table[table["split"] == split].sort_values("plan_steps")
        for m in norms:
            lo, hi = ci_columns(m)
            ax.plot(part["plan_steps"], part[m], marker="o", label=m[len("norm/") :])
            ax.fill_between(part["plan_steps"], part[lo], part[hi], alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel(table.attrs.get("knob", "value-iteration steps K at test time"))
        ax.set_title(f"{split} levels")
        ax.axhline(1.0, ls=":", c="k", lw=0.8)
    axes[0].set_ylabel("return / optimal base return")
    axes[1].legend(fontsize=8)
    fig.suptitle(title or "Thinking time: more planning at test time", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
