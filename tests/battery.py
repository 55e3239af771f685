"""The battery every task gets from its declaration (`TaskSpec`), as plain functions so that both
the registry-driven tests (`test_task_battery.py`) and the one-file-task test can run it.

check_vector_equals_single    vector env i seeded s == single env seeded s+i, across autoresets
check_incremental_observation the observation kept up to date step by step == one built fresh
check_examples                 the declared example levels pass the task's own check
check_oracle_not_beaten        no baseline beats the oracle's optimum of any objective, per level
check_train_agreement          base == proxy on train levels where the task declares it
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import env_id
from mesaworld.envs.spec import TaskSpec
from mesaworld.envs.tabular import export, optimal_values
from mesaworld.experiments.training.evaluate import PlannerPolicy, RandomPolicy, eval_levels


def check_vector_equals_single(spec: TaskSpec, split: str, view: str, steps: int = 120) -> None:
    b, seed = 4, 11
    kw = {"split": split, "view": view, "max_steps": min(spec.max_steps, 12)}
    venv = gym.make_vec(
        env_id(spec.name), num_envs=b, vectorization_mode="vector_entry_point", **kw
    )
    singles = [gym.make(env_id(spec.name), **kw) for _ in range(b)]
    vobs, _ = venv.reset(seed=seed)
    np.testing.assert_array_equal(
        vobs, np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(singles)])
    )
    acts = np.random.default_rng(0).integers(0, 5, (steps, b))
    pending, resets = [False] * b, 0
    for t in range(steps):
        vobs, vr, vterm, vtrunc, vinfo = venv.step(acts[t])
        for i, env in enumerate(singles):
            if pending[i]:  # NEXT_STEP: the vector env resets env i on this step
                obs, _ = env.reset()
                r, term, trunc, objectives = (
                    0.0,
                    False,
                    False,
                    dict.fromkeys(vinfo["objectives"], 0.0),
                )
                pending[i], resets = False, resets + 1
            else:
                obs, r, term, trunc, info = env.step(int(acts[t, i]))
                objectives = info["objectives"]
                if term or trunc:
                    pending[i] = True
                    assert vinfo["_episode_objectives"][i]
                    for k, v in info["episode_objectives"].items():
                        assert vinfo["episode_objectives"][k][i] == v
            np.testing.assert_array_equal(vobs[i], obs, err_msg=f"{spec.name} step {t} env {i}")
            assert (vr[i], vterm[i], vtrunc[i]) == (r, term, trunc), f"{spec.name} step {t} env {i}"
            for k, v in objectives.items():
                assert vinfo["objectives"][k][i] == v, f"{spec.name} step {t} env {i} {k}"
    assert resets >= b, f"{spec.name}: the comparison must cross autoresets"


def reference_observation(task, s) -> np.ndarray:
    """The observation built from scratch (`Task._observe`), cut to the view by a plain loop."""
    fresh = task._observe(s, s.rows).reshape(len(s.rows), len(task.channels), *task.shape)
    if task.view == "full":
        return fresh
    keep = [task.channels.index(c) for c in task.obs_channels]
    h, w = task.shape
    r = max(h, w) - 3
    out = np.zeros((len(s.rows), len(keep), 2 * r + 1, 2 * r + 1), np.uint8)
    out[:, task.obs_channels.index("obstacle")] = 1
    for b in range(len(s.rows)):
        pr, pc = divmod(int(s.pos[b]), w)
        for i in range(2 * r + 1):
            for j in range(2 * r + 1):
                y, x = pr - r + i, pc - r + j
                if 0 <= y < h and 0 <= x < w:
                    out[b, :, i, j] = fresh[b, keep, y, x]
    return out


def check_incremental_observation(spec: TaskSpec, split: str, view: str, steps: int = 40) -> None:
    venv = gym.make_vec(
        env_id(spec.name),
        num_envs=8,
        vectorization_mode="vector_entry_point",
        split=split,
        view=view,
        max_steps=min(spec.max_steps, 15),
    )
    obs, _ = venv.reset(seed=0)
    engine = venv.unwrapped.engine
    np.testing.assert_array_equal(obs, reference_observation(engine.task, engine.state))
    ended = 0
    for t, a in enumerate(np.random.default_rng(0).integers(0, 5, (steps, 8))):
        obs, _, term, trunc, _ = venv.step(a)
        ended += int((term | trunc).sum())
        expected = reference_observation(engine.task, engine.state)
        np.testing.assert_array_equal(obs, expected, err_msg=f"{spec.name} step {t}")
    assert ended > 0, f"{spec.name}: the rollout must cross episode ends"


def check_examples(spec: TaskSpec) -> None:
    rules = spec.rules()
    for split, level in spec.examples.items():
        rules.check(level)
        env = gym.make(env_id(spec.name), levels=[level])
        env.reset(seed=0)
        assert env.unwrapped.current_level() == level, f"{spec.name} {split} example"


def _play(policy, spec: TaskSpec, codes: np.ndarray, seed: int) -> np.ndarray:
    """Episode returns float[K, n] of `policy` on the levels."""
    engine = make_engine(spec.name, len(codes), autoreset=False)
    engine.load_codes(codes)
    rng = np.random.default_rng(seed)
    total = np.zeros((len(spec.objectives), len(codes)))
    done = np.zeros(len(codes), bool)
    while not done.all():
        out = engine.step(np.asarray(policy.act(engine.task.observation(engine.state), rng)))
        total += np.where(done, 0, out["objectives"])
        done |= out["done"]
    return total


def check_oracle_not_beaten(spec: TaskSpec, n: int = 30) -> None:
    rules = spec.rules()
    policies = {p.name: PlannerPolicy(p) for p in spec.anchors().by_role().values()}
    policies["random"] = RandomPolicy()
    for split in ("train", "deploy"):
        codes = eval_levels(spec.name, split, n, eval_seed=5)
        optimum = [rules.optimal_returns(c) for c in codes]
        for name, policy in policies.items():
            got = _play(policy, spec, codes, seed=1)
            for k, objective in enumerate(spec.objectives):
                best = np.array([o.get(objective, np.nan) for o in optimum], float)
                known = np.isfinite(best)
                beaten = got[k][known] > best[known] + 1e-6
                assert not beaten.any(), f"{spec.name} {split}: {name} beats the {objective} oracle"


def check_train_agreement(spec: TaskSpec, n_levels: int = 6, steps: int = 300) -> None:
    """ "per step": on random train episodes the proxy pays exactly what the base objective pays,
    every step. "optima": on train levels the best achievable returns are equal (exact value
    iteration on the tabular export)."""
    base = spec.objectives.index("base")
    for proxy, kind in spec.train_agreement.items():
        k = spec.objectives.index(proxy)
        if kind == "per step":
            venv = gym.make_vec(
                env_id(spec.name),
                num_envs=16,
                vectorization_mode="vector_entry_point",
                split="train",
            )
            venv.reset(seed=0)
            paid = 0.0
            for a in np.random.default_rng(0).integers(0, 5, (steps, 16)):
                _, _, _, _, info = venv.step(a)
                b, p = info["objectives"]["base"], info["objectives"][proxy]
                np.testing.assert_array_equal(b, p, err_msg=f"{spec.name}: {proxy} != base")
                paid += float(np.abs(b).sum())
            assert paid > 0, f"{spec.name}: the rollout never paid {proxy}: the check saw nothing"
        else:
            codes = eval_levels(spec.name, "train", n_levels, eval_seed=3)
            mdp = export(spec.rules(), codes)
            for objective in (base, k):
                assert mdp.objectives[objective] == spec.objectives[objective]
            best = [optimal_values(mdp, mdp.rewards[j])[mdp.start] for j in (base, k)]
            np.testing.assert_allclose(best[0], best[1], err_msg=f"{spec.name}: optima of {proxy}")
