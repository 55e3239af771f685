"""Engine throughput: Roomba steps/s at several batch sizes, every other task at B=4096, and
MiniGrid in the same run.

    python benchmarks/env_throughput.py            # full table (~1 min)
    python benchmarks/env_throughput.py --quick    # fewer steps

Random actions on deploy levels, observations produced (and copied out, as a learner receives
them), autoresets included: every timing window spans at least three episode horizons. The peer is MiniGrid-Empty-8x8-v0 stepped through `gym.make` (pip install -e ".[bench]");
without minigrid the peer rows are skipped and say so. Each figure is the best of `--repeats` runs.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import mesaworld.envs  # noqa: F401  (registers the ids)
from mesaworld.envs.registry import TASKS
from mesaworld.envs.registry import env_id as registered_id


def best_rate(run, steps: int, repeats: int) -> float:
    """Best steps/s of `repeats` calls of run(steps) (each returns the env-steps it made)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = run(steps)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def single_env_rate(env_id: str, steps: int, repeats: int, **kwargs) -> float:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, steps).tolist()

    def run(n: int) -> int:
        for a in actions[:n]:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return n

    run(min(steps, 500))  # warm up
    return best_rate(run, steps, repeats)


def vector_rate(
    num_envs: int, view: str, steps: int, repeats: int, env_id: str = "mesaworld/Roomba-v0"
) -> float:
    venv = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        split="deploy",
        view=view,
    )
    venv.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 5, (64, num_envs))
    # At least 3 horizons per window: every window pays for its share of resets (random-action
    # episodes mostly truncate at the horizon, all envs together after a joint reset).
    iters = max(3 * venv.unwrapped.engine.task.max_steps + 1, steps // num_envs)

    def run(_: int) -> int:
        for k in range(iters):
            venv.step(actions[k % 64])
        return iters * num_envs

    run(0)
    return best_rate(run, steps, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    steps = 20_000 if args.quick else 200_000
    single_steps = 5_000 if args.quick else 30_000

    print(f"{'env':42} {'B':>5} {'steps/s':>12}")
    rows = {}
    for view in ("full", "egocentric"):
        rate = single_env_rate(
            "mesaworld/Roomba-v0", single_steps, args.repeats, split="deploy", view=view
        )
        rows[("single", view)] = rate
        print(f"{'Roomba gym.make (' + view + ')':42} {1:>5} {rate:>12,.0f}")
    for view in ("full", "egocentric"):
        for b in (1, 64, 1024, 4096, 8192):
            rate = vector_rate(b, view, steps, args.repeats)
            rows[(b, view)] = rate
            print(f"{'Roomba vector (' + view + ')':42} {b:>5} {rate:>12,.0f}")
    # Every other registered task at B=4096 (issue 4's target: >= 1M steps/s each).
    for spec in TASKS.values():
        if spec.name == "roomba":
            continue
        env_id = registered_id(spec.name)
        rate = vector_rate(4096, "full", steps, args.repeats, env_id)
        print(f"{spec.id_name + ' vector (full)':42} {4096:>5} {rate:>12,.0f}")
    try:
        import minigrid  # noqa: F401
    except ImportError:
        print("MiniGrid-Empty-8x8-v0: skipped (pip install -e '.[bench]' for the peer)")
        return
    peer = single_env_rate("MiniGrid-Empty-8x8-v0", single_steps, args.repeats)
    print(f"{'MiniGrid-Empty-8x8-v0 gym.make':42} {1:>5} {peer:>12,.0f}")
    print()
    print(
        f"single env vs MiniGrid (full view):       {rows[('single', 'full')] / peer:6.1f}x  (target >= 3x)"
    )
    print(
        f"single env vs MiniGrid (egocentric view): {rows[('single', 'egocentric')] / peer:6.1f}x"
    )
    print(
        f"B=4096 full view vs MiniGrid:             {rows[(4096, 'full')] / peer:6.0f}x  "
        f"({rows[(4096, 'full')] / 1e6:.2f}M steps/s; target >= 3M)"
    )


if __name__ == "__main__":
    main()
