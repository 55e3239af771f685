"""Speed of the behavioral-objective tools on a ~10,000-state export (issue 5's targets: MCE IRL
converges in < 10 s, EPIC < 1 s, on 2 cores).

The export: one 20x20 Roomba room (18x18 floor) with 5 floor dust cells and no cans, horizon 100:
324 cells x 2^5 dust subsets, ~10k states, 5 actions. Demonstrations: 50 episodes of the
Boltzmann-rational policy for the base objective (beta = 20).

    python benchmarks/irl_speed.py
"""

from __future__ import annotations

import time

import numpy as np

from mesaworld.analysis.epic import epic_distance
from mesaworld.analysis.irl import (
    Demos,
    mce_irl,
    sample_episodes,
    soft_value_iteration,
    split_episodes,
)
from mesaworld.envs.level import Level
from mesaworld.envs.tabular import export
from mesaworld.envs.tasks.roomba import Roomba


def level() -> Level:
    rows = ["#" * 20] + ["#" + "." * 18 + "#" for _ in range(18)] + ["#" * 20]
    grid = [list(r) for r in rows]
    grid[1][1] = "A"
    for r, c in [(3, 15), (9, 4), (12, 12), (16, 2), (17, 17)]:
        grid[r][c] = "*"
    return Level.from_str("\n".join("".join(r) for r in grid))


def main() -> None:
    rules = Roomba((20, 20), max_steps=100)
    codes = rules.check(level()).to_array()
    t0 = time.perf_counter()
    mdp = export(rules, codes)
    t_export = time.perf_counter() - t0
    print(
        f"export: {mdp.n_states:,} states x {mdp.n_actions} actions, horizon {mdp.horizon}, "
        f"{t_export:.2f} s"
    )
    rng = np.random.default_rng(0)
    log_pi = soft_value_iteration(mdp, mdp.reward("base"), beta=20.0)
    episodes = sample_episodes(mdp, log_pi, 50, rng)
    demos = Demos.from_actions(mdp, episodes)
    fit, held = split_episodes(demos)
    t0 = time.perf_counter()
    result = mce_irl(mdp, demos.subset(fit, mdp), heldout=demos.subset(held, mdp))
    t_irl = time.perf_counter() - t0
    print(
        f"MCE IRL: {t_irl:.2f} s (target < 10 s), {result.iterations} L-BFGS iterations, "
        f"converged={result.converged}, {demos.n_steps} demo steps, held-out LL/step "
        f"{result.heldout_ll:.3f} (random {result.random_ll:.3f})"
    )
    t0 = time.perf_counter()
    d = epic_distance(mdp, result.reward, mdp.reward("base"))
    t_epic = time.perf_counter() - t0
    print(f"EPIC(recovered, base) = {d:.4f}: {t_epic:.2f} s (target < 1 s)")
    print(
        f"one soft value iteration: {_time(lambda: soft_value_iteration(mdp, result.reward)):.3f} s"
    )


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
