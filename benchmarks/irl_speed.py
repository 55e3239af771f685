"""Speed of the behavioral-objective tools: the solver on a ~10,000-state export (issue 5's
targets: MCE IRL converges in < 10 s, EPIC < 1 s, on 2 cores), and `mesaworld analyze` on one
Roomba run (target: <= 20 s per run), each against the dense solver it replaced, same run.

    python benchmarks/irl_speed.py                      # solver, then analyze on a fresh run
    python benchmarks/irl_speed.py --run runs/my_run    # analyze on a finished Roomba run
    python benchmarks/irl_speed.py --no-analyze         # the solver part only (~1 min)
    python benchmarks/irl_speed.py --old-default        # also the old default, 300,000 states

Solver part. The export: one 20x20 Roomba room (18x18 floor) with 5 floor dust cells and no
cans, horizon 100: 324 cells x 2^5 dust subsets, ~10k states, 5 actions. Demonstrations: 50
episodes of the Boltzmann-rational policy for the base objective (beta = 20). Timed, median of
`--repeat`: one soft value iteration, one evaluation of the IRL objective (backward and forward
pass), the whole MCE IRL fit, fast and dense; EPIC.

Analyze part. Without `--run`, a `roomba-tiny` run is trained into a temp folder (seconds; its
deploy levels and their exports are every Roomba run's). Timed:
  * the whole command, `mesaworld analyze <run> --quiet --max-states 60000` in a subprocess
    (imports, exports, fits, figures, files), median of `--repeat`;
  * the stages of `analysis.behavioral.analyze_run` in this process (fresh export cache each
    time), median of `--repeat`, with the solver as it is and, once, with the dense reference
    solver (`tests/test_irl_speed_equivalence.py`) patched in: the old-vs-new ratio per stage.
    The rows' numbers must agree (the largest relative difference is printed).
The machine's other load counts: quote medians, and the ratios from the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mesaworld.analysis import gap, irl, soft_vi
from mesaworld.analysis.behavioral import BehaviorSettings, ExportCache, StageClock, analyze_run
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

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 60_000
CLI = [sys.executable, "-m", "mesaworld.experiments.cli.main"]


def level() -> Level:
    rows = ["#" * 20] + ["#" + "." * 18 + "#" for _ in range(18)] + ["#" * 20]
    grid = [list(r) for r in rows]
    grid[1][1] = "A"
    for r, c in [(3, 15), (9, 4), (12, 12), (16, 2), (17, 17)]:
        grid[r][c] = "*"
    return Level.from_str("\n".join("".join(r) for r in grid))


def dense_reference():
    """tests/test_irl_speed_equivalence.py, the module with the dense reference solver."""
    path = ROOT / "tests" / "test_irl_speed_equivalence.py"
    spec = importlib.util.spec_from_file_location("irl_dense_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Dense:
    """Within `with Dense(ref):`, mce_irl and the gap run on the dense reference solver (the
    objective, the final log likelihoods, the policies' visits) and OpenBLAS keeps its threads:
    the pipeline before the fast solver."""

    def __init__(self, ref) -> None:
        def log_probs(mdp, reward, gamma, *sets):
            log_pi = ref.dense_soft_value_iteration(mdp, reward, gamma=gamma)
            return [log_pi[d.time, d.state, d.action] for d in sets]

        self.patches = [
            (irl, "_irl_objective", ref.dense_objective),
            (irl, "_demo_log_probs", log_probs),
            (gap, "policy_visits", ref.dense_policy_visits),
            (soft_vi, "_openblas", lambda: []),  # one_blas_thread() changes nothing
        ]

    def __enter__(self):
        self.saved = [(m, name, getattr(m, name)) for m, name, _ in self.patches]
        for m, name, f in self.patches:
            setattr(m, name, f)

    def __exit__(self, *exc):
        for m, name, f in self.saved:
            setattr(m, name, f)


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def solver(ref, repeat: int) -> None:
    rules = Roomba((20, 20), max_steps=100)
    codes = rules.check(level()).to_array()
    t0 = time.perf_counter()
    mdp = export(rules, codes)
    print(
        f"export: {mdp.n_states:,} states x {mdp.n_actions} actions, horizon {mdp.horizon}, "
        f"{time.perf_counter() - t0:.2f} s"
    )
    log_pi = soft_value_iteration(mdp, mdp.reward("base"), beta=20.0)
    demos = Demos.from_actions(mdp, sample_episodes(mdp, log_pi, 50, np.random.default_rng(0)))
    fit, held = split_episodes(demos)
    train, heldout = demos.subset(fit, mdp), demos.subset(held, mdp)
    t0 = time.perf_counter()
    result = mce_irl(mdp, train, heldout=heldout)
    t_irl = time.perf_counter() - t0
    print(
        f"MCE IRL: {t_irl:.2f} s (target < 10 s), {result.iterations} L-BFGS iterations, "
        f"converged={result.converged}, {demos.n_steps} demo steps, held-out LL/step "
        f"{result.heldout_ll:.3f} (random {result.random_ll:.3f})"
    )
    t0 = time.perf_counter()
    d = epic_distance(mdp, result.reward, mdp.reward("base"))
    print(f"EPIC(recovered, base) = {d:.4f}: {time.perf_counter() - t0:.2f} s (target < 1 s)")

    features = mdp.features()
    args = (mdp, train, features, False, 1e-5, 1e-2, None)
    fast_fun, dense_fun = irl._irl_objective(*args), ref.dense_objective(*args)
    x = result.theta
    rows = [
        (
            "one soft value iteration",
            lambda: soft_value_iteration(mdp, result.reward),
            lambda: ref.dense_soft_value_iteration(mdp, result.reward),
        ),
        ("one IRL objective evaluation", lambda: fast_fun(x), lambda: dense_fun(x)),
        (
            "MCE IRL fit",
            lambda: mce_irl(mdp, train, heldout=heldout),
            lambda: ref.dense_mce_irl(mdp, train, features, heldout),
        ),
    ]
    print(f"fast vs dense solver, median of {repeat}:")
    for name, fast, dense in rows:
        a, b = median_time(fast, repeat), median_time(dense, repeat)
        print(f"  {name:30s} {a:8.3f} s  dense {b:8.3f} s  x{b / a:.1f}")


def make_run(folder: Path) -> Path:
    run = folder / "roomba_tiny"
    cmd = [*CLI, "train", "roomba-tiny", "--out", str(run), "--quiet"]
    print(f"training a run: mesaworld train roomba-tiny --out {run}", flush=True)
    subprocess.run(cmd, check=True)
    return run


def whole_command(run: Path, out: Path, max_states: int, repeat: int) -> float:
    cmd = [*CLI, "analyze", str(run), "--quiet", "--out", str(out)]
    cmd += ["--max-states", str(max_states)]
    return median_time(lambda: subprocess.run(cmd, check=True), repeat)


def stages(run: Path, settings: BehaviorSettings) -> tuple[dict[str, float], float, dict]:
    clock = StageClock()
    t0 = time.perf_counter()
    result = analyze_run(run, run, settings, ExportCache(), clock)
    return clock.seconds, time.perf_counter() - t0, result.row


def largest_difference(a: dict, b: dict) -> tuple[float, str]:
    worst = (0.0, "")
    for k, x in a.items():
        y = b[k]
        if k.endswith("seconds") or not isinstance(x, (float, np.floating)) or np.isnan(x):
            continue
        worst = max(worst, (abs(x - y) / max(abs(x), abs(y), 1e-12), k))
    return worst


def analyze_part(ref, run: Path, repeat: int, old_default: bool) -> None:
    settings = BehaviorSettings(max_states=BUDGET)
    with tempfile.TemporaryDirectory() as tmp:
        t_cmd = whole_command(run, Path(tmp) / "a", BUDGET, repeat)
    runs = [stages(run, settings) for _ in range(repeat)]
    row = runs[-1][2]
    print(
        f"\nmesaworld analyze {run.name} (Roomba, {row['levels']} deploy levels, "
        f"{row['states']:,} states, state budget {BUDGET:,}):"
    )
    print(f"  whole command: {t_cmd:.1f} s (median of {repeat}; target <= 20 s)")
    with Dense(ref):
        old_seconds, old_total, old_row = stages(run, settings)
    print(f"  analyze_run by stage, median of {repeat}; dense solver once (old-vs-new):")
    for k in runs[0][0]:
        new, old = float(np.median([r[0][k] for r in runs])), old_seconds[k]
        print(f"    {k:18s} {new:7.2f} s   dense {old:7.2f} s   x{old / new:.1f}")
    total = float(np.median([r[1] for r in runs]))
    print(f"    {'total':18s} {total:7.2f} s   dense {old_total:7.2f} s   x{old_total / total:.1f}")
    rel, key = largest_difference(old_row, row)
    print(f"  rows agree: largest relative difference {rel:.1e} ({key})")
    if old_default:
        old = BehaviorSettings(max_states=300_000)
        with Dense(ref):
            seconds, t_old, old_row = stages(run, old)
        print(
            f"  the old default (300,000 states: {old_row['levels']} deploy levels, "
            f"{old_row['states']:,} states) on the dense solver: {t_old:.1f} s "
            f"({', '.join(f'{k} {v:.1f}' for k, v in seconds.items())})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, help="a finished Roomba run folder (default: train one)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-analyze", action="store_true", help="only the solver part")
    p.add_argument("--old-default", action="store_true", help="also time 300,000 states, dense")
    args = p.parse_args()
    ref = dense_reference()
    solver(ref, args.repeat)
    if args.no_analyze:
        return
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or make_run(Path(tmp))
        analyze_part(ref, run, args.repeat, args.old_default)


if __name__ == "__main__":
    main()
