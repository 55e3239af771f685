"""The tabular export against the engine it is built from, and against the oracles."""

from __future__ import annotations

import numpy as np
import pytest

from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tabular import ExportError, concat, export, optimal_values
from mesaworld.experiments.training.evaluate import eval_levels

SMALL = [t for t in TASKS if t != "roomba"]  # roomba deploy levels have up to ~175k states


def _levels(task: str, split: str, n: int) -> np.ndarray:
    return eval_levels(task, split, n, eval_seed=7)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("split", ["train", "deploy"])
def test_stepping_the_export_and_the_engine_agree(task, split):
    """Random episodes: from the same state, the engine and the table reach the same state and
    pay the same objectives and measures, and end on the same step."""
    n = 2 if task == "roomba" and split == "deploy" else 4
    codes = _levels(task, split, n)
    engine = make_engine(task, 1, autoreset=False)
    mdp = export(engine.task, codes, max_states=400_000)
    rng = np.random.default_rng(0)
    for lvl in range(n):
        for _ in range(3):
            engine.load_codes(codes[lvl : lvl + 1])
            s = int(mdp.start[lvl])
            assert mdp.locate(engine.state, 0, lvl) == s
            for _ in range(int(engine.task.max_steps)):
                a = int(rng.integers(5))
                out = engine.step(np.array([a]))
                np.testing.assert_allclose(mdp.rewards[:, s, a], out["objectives"][:, 0])
                np.testing.assert_allclose(mdp.measures[:, s, a], out["measures"][:, 0])
                assert mdp.terminal[s, a] == out["terminated"][0]
                assert mdp.next_pos[s, a] == engine.state.pos[0]
                if out["terminated"][0]:
                    break
                s = int(mdp.next[s, a])
                assert mdp.locate(engine.state, 0, lvl) == s
                assert mdp.pos[s] == engine.state.pos[0]


@pytest.mark.parametrize("task", SMALL)
def test_value_iteration_on_the_export_matches_every_exact_oracle(task):
    """Two independent computations of the optimum: the task's oracle and value iteration on
    the table (which is exact for every objective)."""
    rules = make_engine(task, 1, autoreset=False).task
    for split in ("train", "deploy"):
        codes = _levels(task, split, 6)
        mdp = export(rules, codes)
        for k, name in enumerate(mdp.objectives):
            values = optimal_values(mdp, mdp.rewards[k])
            for lvl in range(len(codes)):
                oracle = rules.optimal_returns(codes[lvl]).get(name, np.nan)
                if np.isfinite(oracle):
                    assert values[mdp.start[lvl]] == pytest.approx(oracle, abs=1e-5)


def test_roomba_oracle_agrees_with_value_iteration():
    rules = make_engine("roomba", 1, autoreset=False).task
    codes = _levels("roomba", "train", 4)
    mdp = export(rules, codes)
    values = optimal_values(mdp, mdp.reward("base"))
    for lvl in range(len(codes)):
        assert values[mdp.start[lvl]] == pytest.approx(rules.optimal_returns(codes[lvl])["base"])


def test_concat_is_the_disjoint_union():
    rules = make_engine("coin", 1, autoreset=False).task
    codes = _levels("coin", "deploy", 3)
    whole = export(rules, codes)
    parts = concat([export(rules, codes[i]) for i in range(3)])
    assert parts.n_states == whole.n_states
    for k in range(len(whole.objectives)):
        a, b = optimal_values(whole, whole.rewards[k]), optimal_values(parts, parts.rewards[k])
        np.testing.assert_allclose(a[whole.start], b[parts.start])
    assert (np.bincount(parts.level) == np.bincount(whole.level)).all()


def test_features_and_replay():
    rules = make_engine("lava", 1, autoreset=False).task
    mdp = export(rules, _levels("lava", "deploy", 1))
    f = mdp.features()
    assert f.shape == (mdp.n_states, 5, len(mdp.feature_names))
    assert (f[..., mdp.feature_names.index("step")] == 1).all()
    stay = f[..., mdp.feature_names.index("stay")]
    assert (stay[:, 4] == 1).all()  # the stay action never moves
    with pytest.raises(KeyError, match="unknown feature 'speed'"):
        mdp.features(["speed"])
    states, actions = mdp.replay(0, [4] * 100)
    assert len(states) == mdp.horizon  # the horizon cuts the replay
    assert mdp.transition_matrix(0).shape == (mdp.n_states, mdp.n_states)


def test_export_errors_are_clear():
    rules = make_engine("roomba", 1, autoreset=False).task
    codes = _levels("roomba", "deploy", 1)
    with pytest.raises(ExportError, match="more than 100 reachable states"):
        export(rules, codes, max_states=100)
    with pytest.raises(ExportError, match="levels must be uint8"):
        export(rules, np.zeros((1, 5, 5), np.uint8))
