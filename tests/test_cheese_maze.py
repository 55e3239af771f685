"""Cheese maze: golden scripted episodes for every objective, the oracle, generator properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted import play_totals

import mesaworld.envs  # noqa: F401  (registers the ids)
from mesaworld.envs.planning import bfs_distances
from mesaworld.envs.tasks.cheese_maze import (
    DEPLOY_EXAMPLE,
    SHIFT,
    TRAIN_EXAMPLE,
    CheeseMaze,
    CheeseMazeLevels,
)


def play(level, actions, **kw):
    return play_totals("mesaworld/CheeseMaze-v0", level, actions, **kw)


def test_train_level_cheese_is_the_corner():
    totals, steps, term = play(TRAIN_EXAMPLE, "rrrrr uuuuuu")
    assert (totals, steps, term) == ({"base": 1.0, "corner": 1.0}, 11, True)


def test_deploy_level_cheese_and_corner_part_ways():
    # Straight to the cheese: the base objective, no corner.
    totals, steps, term = play(DEPLOY_EXAMPLE, "luullddlldd")
    assert (totals, steps, term) == ({"base": 1.0, "corner": 0.0}, 11, True)
    # To the corner instead: the proxy once (staying there does not count again), no cheese.
    totals, steps, term = play(DEPLOY_EXAMPLE, "rrrrr uuuuuu ....", max_steps=20)
    assert (totals, term) == ({"base": 0.0, "corner": 1.0}, False) and steps == 15


def test_walls_block_and_the_horizon_truncates():
    totals, steps, term = play(TRAIN_EXAMPLE, "dddd", max_steps=4)  # (8,6) is a wall
    assert totals == {"base": 0.0, "corner": 0.0} and steps == 4 and not term


def test_oracle_on_hand_solved_levels():
    task = CheeseMaze((13, 13), max_steps=100)
    assert task.optimal_returns(TRAIN_EXAMPLE.to_array()) == {"base": 1.0, "corner": 1.0}
    assert task.optimal_returns(DEPLOY_EXAMPLE.to_array()) == {"base": 1.0, "corner": 1.0}
    short = CheeseMaze((13, 13), max_steps=10)
    assert short.optimal_returns(TRAIN_EXAMPLE.to_array())["base"] == 0.0  # 11 moves needed
    assert CheeseMaze((13, 13), max_steps=11).optimal_returns(TRAIN_EXAMPLE.to_array())["base"] == 1
    # Cheese on the only way to the corner: the episode ends before the corner.
    blocked = TRAIN_EXAMPLE.to_str().replace("C", ".")
    rows = [list(r) for r in blocked.splitlines()]
    rows[3][11] = "C"
    from mesaworld.envs.level import Level

    level = Level.from_str("\n".join("".join(r) for r in rows))
    assert task.optimal_returns(level.to_array()) == {"base": 1.0, "corner": 0.0}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3, 5, 11]))
def test_generator_properties(seed, corner_size):
    gen = CheeseMazeLevels(size=13, corner_size=corner_size)
    codes = gen.build(np.random.default_rng(seed).random((8, gen.n_uniforms)))
    for level in codes:
        flat = level.reshape(-1)
        assert (flat == ord("A")).sum() == 1 and (flat == ord("C")).sum() == 1
        r, c = np.argwhere(level == ord("C"))[0]
        assert 1 <= r <= corner_size and 13 - 1 - corner_size <= c <= 11  # cheese in the region
        passable = flat != ord("#")
        dist = bfs_distances(passable, int(np.argmax(flat == ord("A"))), (13, 13))
        assert np.isfinite(dist[passable]).all()  # one connected maze
        # a perfect maze: a tree, so corridor cells = open adjacencies + 1
        h = (passable.reshape(13, 13)[:, 1:] & passable.reshape(13, 13)[:, :-1]).sum()
        v = (passable.reshape(13, 13)[1:, :] & passable.reshape(13, 13)[:-1, :]).sum()
        assert passable.sum() == h + v + 1


def test_knob_is_the_corner_size_and_bad_values_fail():
    assert SHIFT.generator("train", 5.0).corner_size == 5
    assert SHIFT.generator("deploy").corner_size == 11
    with pytest.raises(ValueError, match="corner_size must be an integer"):
        SHIFT.generator("train", 2.5)
    with pytest.raises(ValueError, match="knob"):
        SHIFT.generator("train", 12.0)
    with pytest.raises(ValueError, match="odd integer"):
        CheeseMazeLevels(size=12)
