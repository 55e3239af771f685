"""Capability curves: the same weights at several planning budgets, scored against the random
agent and the oracle, and labelled across capability (`mesaworld.analysis.labels.capability_label`).

capability_rows(run, steps, levels)
    One row per (budget K, split): the agent's mean return per objective, the levels' mean
    optimum per objective, the proxy behaviour (the task's `ProxyBehaviour`), and the score of
    each objective, (return - random) / (optimum - random) with the random agent's mean return on
    the same levels. The planner's K (a recurrent agent's ticks) is set to each budget; the
    weights never change, so neither does the reward map a planner's readout reads.
run_capability_label(rows, trained_k, raised_k)
    The run's label from its rows on train levels at the budget it was trained with and at a
    raised budget: "suboptimality alignment (<proxy>)" where it generalizes at the first and
    pursues the proxy at the second.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mesaworld.analysis.labels import Evidence, capability_label
from mesaworld.analysis.metrics import episode_scores
from mesaworld.analysis.runfolder import read_config
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.evaluate import (
    EvalSettings,
    RandomPolicy,
    TorchPolicy,
    evaluate,
)

BUDGET = {"planner": "plan_steps", "recurrent": "ticks"}


def _means(rows: list[dict], task: str) -> pd.DataFrame:
    df = episode_scores(pd.DataFrame(rows).assign(task=task))
    keep = [c for c in df.columns if c.startswith(("return/", "optimal/"))]
    out = df.groupby("split", sort=False)[[*keep, "behaviour", "length"]].mean()
    out["levels"] = df.groupby("split", sort=False).size()
    return out


def capability_rows(run: str | Path, steps: list[int], levels: int = 100) -> pd.DataFrame:
    """The run's agent at every budget in `steps` on the first `levels` evaluation levels of
    each split (the run's evaluation seed); see the module docstring."""
    run = Path(run)
    if not steps or min(steps) < 1:
        raise ValueError("steps: give one or more positive integers")
    meta = read_config(run)
    agent, agent_meta = load_agent(run)
    knob = BUDGET.get(agent_meta["network"])
    if knob is None:
        raise ValueError(
            f"{run}: a {agent_meta['network']} agent has no planning budget to raise "
            "(use a planner or recurrent run)"
        )
    task = meta["task"]
    settings = EvalSettings(eval_seed=meta["eval"]["eval_seed"], levels=levels)
    random = _means(evaluate(RandomPolicy(), task, settings)[0], task)
    frames = []
    for k in steps:
        setattr(agent, knob, int(k))
        means = _means(evaluate(TorchPolicy(agent, agent_meta["view"]), task, settings)[0], task)
        for obj in TASKS[task].objectives:
            span = means[f"optimal/{obj}"] - random[f"return/{obj}"]
            means[f"score/{obj}"] = (means[f"return/{obj}"] - random[f"return/{obj}"]) / span.where(
                span.abs() > 1e-9
            )
        frames.append(means.reset_index().assign(budget=int(k)))
    table = pd.concat(frames, ignore_index=True)
    table.attrs["knob"] = knob
    return table


def run_capability_label(rows: pd.DataFrame, trained_k: int, raised_k: int) -> str:
    """The run's label across capability from its train-level rows (module docstring)."""
    train = rows[rows["split"] == "train"].set_index("budget")
    missing = {trained_k, raised_k} - set(train.index)
    if missing:
        raise ValueError(f"no train rows at budget(s) {sorted(missing)}")
    objectives = [c.split("/", 1)[1] for c in train.columns if c.startswith("score/")]

    competence = float(train.loc[trained_k, "score/base"])  # measured where it was trained

    def evidence(k: int) -> Evidence:
        scores = {o: float(train.loc[k, f"score/{o}"]) for o in objectives}
        gaps = {o: scores["base"] - scores[o] for o in objectives if o != "base"}
        return Evidence(scores=scores, gaps=gaps, train=competence)

    return capability_label(evidence(trained_k), evidence(raised_k))
