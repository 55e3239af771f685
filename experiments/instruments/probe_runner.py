"""What the optimizer-vs-heuristic instruments share: the run's trained agent as a policy, and
the same measurement on the two references whose goal is known by construction
(`mesaworld.experiments.instruments.reference_agents`): a hand-coded optimizer and a memorised
route, and on request the controls (a pursuer of each proxy, a random walker). Every table has
one block per agent, so the run is always read against them.

    run_policy(run) -> (policy, task, eval_seed)
    with_references(run, settings, measure) -> (table, verdicts: {agent: str})
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mesaworld.analysis.runfolder import read_config
from mesaworld.experiments.instruments.instrument import ProbeSettings
from mesaworld.experiments.instruments.reference_agents import (
    FixedRoute,
    RandomWalker,
    ReferenceOptimizer,
    proxy_pursuers,
)
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.evaluate import TorchPolicy, eval_levels
from mesaworld.experiments.training.progress import job_line

# measure(who, task, codes, seed, is_run) -> (table for that agent, its one-line verdict)
Measure = Callable[..., tuple[pd.DataFrame, str]]


def run_policy(run: Path):
    """The run's trained agent as a policy, named by its network."""
    meta = read_config(run)
    agent, agent_meta = load_agent(run)
    policy = TorchPolicy(agent, agent_meta["view"])
    policy.name = f"{agent_meta['network']} ({Path(run).name})"
    policy.network = agent_meta["network"]
    return policy, meta["task"], meta["eval"]["eval_seed"]


def with_references(
    run: Path, settings: ProbeSettings, measure: Measure, min_levels: int = 4
) -> tuple[pd.DataFrame, dict[str, str]]:
    """`measure` on the run (`settings.agent`) and on the two references
    (`settings.references`), on the first `settings.levels` evaluation levels of
    `settings.split` (the run's own evaluation seed). The stacked table and a verdict per
    agent."""
    if settings.levels < min_levels:
        raise ValueError(f"--levels: at least {min_levels} (probes compare halves of the levels)")
    policy, task, eval_seed = run_policy(Path(run))
    codes = eval_levels(task, settings.split, settings.levels, eval_seed)
    optimizer = ReferenceOptimizer(task)
    agents = [policy] if settings.agent else []
    if settings.references:
        agents += [optimizer, FixedRoute.recorded(optimizer, task, codes, settings.seed)]
    if settings.controls:
        agents += [*proxy_pursuers(task), RandomWalker()]
    tables, verdicts, start = [], {}, time.perf_counter()
    for i, who in enumerate(agents, 1):
        table, verdicts[who.name] = measure(who, task, codes, settings.seed, who is policy)
        tables.append(table)
        if settings.progress and len(agents) > 1:
            print(job_line(i, len(agents), start, who.name), file=sys.stderr, flush=True)
    return pd.concat(tables, ignore_index=True), verdicts
