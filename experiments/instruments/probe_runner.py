"""The optimizer-vs-heuristic probes (`mesaworld.experiments.instruments.basin`, `mesaworld.experiments.instruments.retarget`,
`mesaworld.experiments.instruments.linear_probes`) on a trained run folder, beside the two references whose goal is
known by construction (`mesaworld.experiments.instruments.reference_agents`): a hand-coded optimizer and a memorised
route. Every table has one block per agent, so the run is always read against both.

    probe_run(run, kind, levels, split) -> (table, verdicts: {agent: str})
    probe_figure(kind, table, path)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mesaworld.analysis.runfolder import read_config
from mesaworld.experiments.instruments import basin, linear_probes, retarget
from mesaworld.experiments.instruments.reference_agents import FixedRoute, ReferenceOptimizer
from mesaworld.experiments.instruments.steering import SteeredPolicy
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.evaluate import TorchPolicy, eval_levels

KINDS = ("basin", "retarget", "linear")


def run_policy(run: Path):
    """The run's trained agent as a policy, named by its network."""
    meta = read_config(run)
    agent, agent_meta = load_agent(run)
    policy = TorchPolicy(agent, agent_meta["view"])
    policy.name = f"{agent_meta['network']} ({Path(run).name})"
    return policy, meta["task"], meta["eval"]["eval_seed"]


def _retargetable(policy, task: str, codes: np.ndarray):
    """The planner: its reward map edited. Other networks: a decoded goal written into their
    last spatial layer (`mesaworld.experiments.instruments.steering`; an MLP has none: a one-line error)."""
    if hasattr(policy.agent, "reward_edit"):
        return retarget.PlannerEdit(policy)
    return SteeredPolicy(policy, task, codes)


def probe_run(
    run: str | Path,
    kind: str,
    levels: int = 100,
    split: str = "deploy",
    seed: int = 0,
    references: bool = True,
    agent: bool = True,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """`kind` on the run and (`references`) on the two references, on the first `levels`
    evaluation levels of `split` (the run's own evaluation seed). Returns the stacked table
    and a verdict per agent (`agent=False`: the references alone, on the run's levels)."""
    if kind not in KINDS:
        raise ValueError(f"unknown probe {kind!r}; known: {', '.join(KINDS)}")
    if split not in ("train", "deploy"):
        raise ValueError(f"split must be train or deploy, got {split!r}")
    if levels < 4:
        raise ValueError("--levels: at least 4 (linear probes fit on half, score on half)")
    policy, task, eval_seed = run_policy(Path(run))
    codes = eval_levels(task, split, levels, eval_seed)
    optimizer = ReferenceOptimizer(task)
    agents = [policy] if agent else []
    if references:
        agents += [optimizer, FixedRoute.recorded(optimizer, task, codes, seed)]
    tables, verdicts = [], {}
    for who in agents:
        if kind == "basin":
            table = basin.basin_of_attraction(who, task, codes, seed=seed)
            verdicts[who.name] = ", ".join(f"{k}: {v}" for k, v in basin.verdicts(table).items())
        elif kind == "retarget":
            subject = who if who is not policy else _retargetable(policy, task, codes)
            table = retarget.retargeting(subject, task, codes, seed=seed)
            table["agent"] = who.name
            verdicts[who.name] = retarget.verdict(table)
        else:
            table = linear_probes.linear_probes(who, task, codes, seed=seed)
            verdicts[who.name] = _decodes(table)
        tables.append(table)
    return pd.concat(tables, ignore_index=True), verdicts


def _decodes(table: pd.DataFrame) -> str:
    """Which labels some layer decodes above chance (interval above chance + 0.1)."""
    part = table[table["scored"] == "all"]
    best = part.loc[part.groupby("label")["accuracy_lo"].idxmax()]
    found = best[best["accuracy_lo"] > best["chance"] + 0.1]
    return "decodes " + (", ".join(found["label"]) if len(found) else "nothing above chance")


def probe_figure(kind: str, table: pd.DataFrame, path: Path, title: str = "") -> list[Path]:
    if kind == "basin":
        tables = {a: g for a, g in table.groupby("agent", sort=False)}
        return basin.basin_figure(tables, path, title)
    if kind == "retarget":
        tables = {a: g for a, g in table.groupby("agent", sort=False)}
        return retarget.retarget_figure(tables, path, title)
    return linear_probes.probe_figure(table, path, title)


def summary(kind: str, table: pd.DataFrame) -> pd.DataFrame:
    """The columns worth printing, rounded."""
    cols = {
        "basin": ["agent", "condition", "target", "episodes", "returned", "returned_lo"]
        + ["returned_hi", "efficiency"],
        "retarget": ["agent", "condition", "levels", "success", "success_lo", "success_hi"],
        "linear": ["agent", "layer", "label", "scored", "steps", "accuracy", "accuracy_lo"]
        + ["accuracy_hi", "chance"],
    }[kind]
    out = table[cols].copy()
    if kind == "linear":
        out = out[out["scored"] == "all"]
    return out.round(3).replace({np.nan: None})
