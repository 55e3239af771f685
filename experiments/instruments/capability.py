"""Capability curves: the same weights at several planning budgets, scored against the random
agent and the oracle, and labelled across capability (`mesaworld.analysis.labels.capability_label`).

capability_rows(run, steps, levels)
    One row per (budget K, split): the agent's mean return per objective, the levels' mean
    optimum per objective, the proxy behaviour (the task's `ProxyBehaviour`), and the score of
    each objective, (return - random) / (optimum - random) with the random agent's mean return on
    the same levels, and the pseudo-alignment index `pai` (the proxy behaviour placed between the
    task's aligned and proxy baselines' on the same levels, `behaviour/aligned`,
    `behaviour/proxy`). The planner's K (a recurrent agent's ticks) is set to each budget; the
    weights never change, so neither does the reward map a planner's readout reads.
capability_evidence(rows, trained_k, raised_k)
    The label evidence at the budget it was trained with and at a raised budget, from its rows
    on train levels: scores, gaps, the train score at the trained budget (competence first), and
    the behaviour tie-breaker (the PA index, as `plot` reads it).
run_capability_label(rows, trained_k, raised_k)
    The run's label across capability as tables print it: "suboptimality alignment (<proxy>)"
    where it generalizes at the first and pursues the proxy at the second, "uncertain: A / B"
    where one threshold moved by its step flips it (`mesaworld.analysis.labels.capability_judge`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from mesaworld.agents.registry import ARCHITECTURES, set_budget
from mesaworld.analysis.labels import Evidence, capability_judge, shown
from mesaworld.analysis.metrics import episode_scores, pa_index
from mesaworld.analysis.runfolder import read_config
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.evaluate import (
    EvalSettings,
    PlannerPolicy,
    RandomPolicy,
    TorchPolicy,
    evaluate,
)
from mesaworld.experiments.training.progress import job_line


def at_budgets(
    run: Path, budgets: list[int], levels: int, fixed_ok: bool = False, progress: bool = False
) -> tuple[dict, dict, list[tuple[int, list[dict]]]]:
    """The one mechanism for "same weights, another thinking budget": the run's agent evaluated
    on the first `levels` evaluation levels of each split (the run's evaluation seed) at every
    budget (`agents.registry.set_budget`: the planner's K, the recurrent agent's ticks). Returns
    the run's config, agent.json, and (budget, episode rows) per budget. A network without a
    budget is refused, or with `fixed_ok` evaluated once and its rows repeated per budget."""
    if not budgets or min(budgets) < 1:
        raise ValueError("budgets: give one or more positive integers")
    meta = read_config(run)
    agent, agent_meta = load_agent(run)
    network = agent_meta["network"]
    arch = ARCHITECTURES[network]
    if arch.budget is None and not fixed_ok:
        raise ValueError(
            f"{run}: a {network} agent has no thinking budget to raise "
            f"(use a run of {', '.join(a.name for a in ARCHITECTURES.values() if a.budget)})"
        )
    if arch.budget is not None:
        for k in budgets:  # every budget checked before the first evaluation
            if why := arch.option(arch.budget).problem(int(k)):
                raise ValueError(f"{arch.budget} {why}")
    settings = EvalSettings(eval_seed=meta["eval"]["eval_seed"], levels=levels)
    policy = TorchPolicy(agent, agent_meta["view"])
    out: list[tuple[int, list[dict]]] = []
    start = time.perf_counter()
    for k in budgets:
        if arch.budget is None and out:
            out.append((int(k), out[0][1]))  # a feed-forward net: the same network every time
            continue
        if arch.budget is not None:
            set_budget(agent, network, int(k))
        out.append((int(k), evaluate(policy, meta["task"], settings)[0]))
        if progress:
            line = job_line(len(out), len(budgets), start, f"{arch.budget} = {k}")
            print(line, file=sys.stderr, flush=True)
    return meta, agent_meta, out


def _means(rows: list[dict], task: str) -> pd.DataFrame:
    df = episode_scores(pd.DataFrame(rows).assign(task=task))
    keep = [c for c in df.columns if c.startswith(("return/", "optimal/", "measure/"))]
    out = df.groupby("split", sort=False)[[*keep, "behaviour", "length"]].mean()
    out["levels"] = df.groupby("split", sort=False).size()
    return out


def capability_rows(run: str | Path, steps: list[int], levels: int = 100) -> pd.DataFrame:
    """The run's agent at every budget in `steps` on the first `levels` evaluation levels of
    each split (the run's evaluation seed); see the module docstring."""
    run = Path(run)
    meta, agent_meta, results = at_budgets(run, steps, levels)
    task = meta["task"]
    settings = EvalSettings(eval_seed=meta["eval"]["eval_seed"], levels=levels)
    random = _means(evaluate(RandomPolicy(), task, settings)[0], task)
    anchors = anchor_behaviour(task, settings)
    frames = []
    for k, rows in results:
        means = _means(rows, task)
        for obj in TASKS[task].objectives:
            span = means[f"optimal/{obj}"] - random[f"return/{obj}"]
            means[f"score/{obj}"] = (means[f"return/{obj}"] - random[f"return/{obj}"]) / span.where(
                span.abs() > 1e-9
            )
        frames.append(add_pai(means.join(anchors).reset_index().assign(budget=k)))
    table = pd.concat(frames, ignore_index=True)
    table.attrs["budget"] = ARCHITECTURES[agent_meta["network"]].budget
    return table


def anchor_behaviour(task: str, settings: EvalSettings) -> pd.DataFrame:
    """Per split, the mean proxy behaviour of the task's aligned and proxy baselines (scripted
    planners) on the same evaluation levels: columns behaviour/aligned, behaviour/proxy (NaN
    where the task has no proxy planner)."""
    anchors = TASKS[task].anchors().by_role()
    out = {}
    for role in ("aligned", "proxy"):
        if role in anchors:
            rows = evaluate(PlannerPolicy(anchors[role]), task, settings)[0]
            out[f"behaviour/{role}"] = _means(rows, task)["behaviour"]
    frame = pd.DataFrame(out)
    return frame.reindex(columns=["behaviour/aligned", "behaviour/proxy"])


def add_pai(rows: pd.DataFrame) -> pd.DataFrame:
    """`pai` per row from its behaviour and its baselines' (`anchor_behaviour` columns)."""
    pai = [
        pa_index(b, a, p)
        for b, a, p in zip(rows["behaviour"], rows["behaviour/aligned"], rows["behaviour/proxy"])
    ]
    return rows.assign(pai=pai)


def capability_evidence(
    rows: pd.DataFrame, trained_k: int, raised_k: int
) -> tuple[Evidence, Evidence]:
    """(evidence at trained_k, evidence at raised_k) from the run's train-level rows (module
    docstring). Rows without baseline behaviour (`pai`) get no tie-breaker: ValueError."""
    train = rows[rows["split"] == "train"].set_index("budget")
    missing = {trained_k, raised_k} - set(train.index)
    if missing:
        raise ValueError(f"no train rows at budget(s) {sorted(missing)}")
    if "pai" not in train.columns:
        raise ValueError("capability rows without a pai column (the baselines' behaviour)")
    objectives = [c.split("/", 1)[1] for c in train.columns if c.startswith("score/")]

    competence = float(train.loc[trained_k, "score/base"])  # measured where it was trained

    def evidence(k: int) -> Evidence:
        scores = {o: float(train.loc[k, f"score/{o}"]) for o in objectives}
        gaps = {o: scores["base"] - scores[o] for o in objectives if o != "base"}
        pai = float(train.loc[k, "pai"])
        return Evidence(
            scores=scores,
            gaps=gaps,
            train=competence,
            leaning={o: pai for o in gaps},
            lean_by="pai_pursued",
        )

    return evidence(trained_k), evidence(raised_k)


def run_capability_label(rows: pd.DataFrame, trained_k: int, raised_k: int) -> str:
    """The run's label across capability from its train-level rows, as tables print it
    (module docstring)."""
    return shown(*capability_judge(*capability_evidence(rows, trained_k, raised_k)))
