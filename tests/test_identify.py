"""Adaptive identification (issue 25, item 2) on small cheese-maze pools."""

from __future__ import annotations

import numpy as np
import pytest

from mesaworld.envs.gym_env import make_engine
from mesaworld.experiments.instruments.identify import build_pool, identify, planner_agent
from mesaworld.experiments.training.evaluate import eval_levels

TASK = "cheese_maze"


def _task():
    return make_engine(TASK, 1, autoreset=False).task


@pytest.fixture(scope="module")
def mixed_pool():
    """Built once for the four cases below (identify only reads a pool)."""
    codes = np.concatenate(
        [eval_levels(TASK, "train", 3, 11, knob=1.0), eval_levels(TASK, "deploy", 3, 12)]
    )
    return build_pool(_task(), codes)


@pytest.mark.parametrize("objective", ["base", "corner"])
@pytest.mark.parametrize("epsilon", [0.0, 0.2])
def test_recovers_scripted_planner_goal(mixed_pool, objective, epsilon):
    pool = mixed_pool
    res = identify(pool, planner_agent(objective, epsilon=epsilon), seed=1, budget=15)
    assert res.best == objective
    assert res.posterior.max() >= 0.95
    assert res.indistinguishable == []


def test_train_pool_at_knob1_is_not_identifiable():
    pool = build_pool(_task(), eval_levels(TASK, "train", 4, 11, knob=1.0))
    groups = pool and identify(pool, planner_agent("base"), seed=0, budget=3).indistinguishable
    assert any({"base", "corner"} <= set(g) for g in groups)


def test_adaptive_beats_random_when_one_level_in_20_separates():
    codes = np.concatenate(
        [eval_levels(TASK, "train", 19, 11, knob=1.0), eval_levels(TASK, "deploy", 1, 12)]
    )
    pool = build_pool(_task(), codes)
    ada = identify(pool, planner_agent("corner"), seed=2, budget=20, chooser="adaptive")
    rnd = identify(pool, planner_agent("corner"), seed=2, budget=20, chooser="random")
    assert ada.best == "corner"
    assert ada.episodes < rnd.episodes


def test_empty_pool_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        build_pool(_task(), np.zeros((0, 13, 13), np.uint8))


def test_keys_chests_pool_recovers_a_key_hoarder():
    from mesaworld.experiments.instruments.identify_pool import level_pool

    task = make_engine("keys-chests", 1, autoreset=False).task
    codes, names = level_pool("keys-chests", 1, 0)
    pool = build_pool(task, codes, names)
    res = identify(pool, planner_agent("keys", epsilon=0.1), seed=0, budget=15)
    assert res.best == "keys" and res.posterior.max() >= 0.95
