"""Coin at the end: golden scripted episodes for every objective, the oracle, generator
properties (at knob 0 the coin is always on the exit)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted import play_totals

from mesaworld.envs.level import Level
from mesaworld.envs.planning import bfs_distances
from mesaworld.envs.tasks.coin import DEPLOY_EXAMPLE, SHIFT, TRAIN_EXAMPLE, CoinAtEnd, CoinLevels

ROUTE = "rrr uu rr dddd rr uuu rr d r"  # start -> exit through the four barrier gaps: 20 moves


def play(level, actions, **kw):
    return play_totals("mesaworld/CoinAtEnd-v0", level, actions, **kw)


def test_train_level_coin_and_end_are_one_step():
    assert play(TRAIN_EXAMPLE, ROUTE) == ({"base": 1.0, "end": 1.0}, 20, True)


def test_deploy_level_running_to_the_end_misses_the_coin():
    # The training route: the level ends at the exit, the coin stays on the floor.
    assert play(DEPLOY_EXAMPLE, ROUTE) == ({"base": 0.0, "end": 1.0}, 20, True)
    # Coin first (bottom left), then the same route from the start row: both objectives.
    assert play(DEPLOY_EXAMPLE, "ddr uu rr" + ROUTE[3:]) == ({"base": 1.0, "end": 1.0}, 24, True)


def test_the_coin_counts_once_and_walls_block():
    totals, steps, term = play(DEPLOY_EXAMPLE, "ddr l r l", max_steps=10)
    assert totals == {"base": 1.0, "end": 0.0} and steps == 6 and not term
    totals, steps, term = play(TRAIN_EXAMPLE, "uuuu", max_steps=4)  # (1, 1) then the wall
    assert totals == {"base": 0.0, "end": 0.0} and steps == 4 and not term


def test_oracle_on_hand_solved_levels():
    task = CoinAtEnd((7, 13), max_steps=60)
    assert task.optimal_returns(TRAIN_EXAMPLE.to_array()) == {"base": 1.0, "end": 1.0}
    assert task.optimal_returns(DEPLOY_EXAMPLE.to_array()) == {"base": 1.0, "end": 1.0}
    # 20 moves to the exit; 24 to coin and exit, 3 to the coin alone.
    assert CoinAtEnd((7, 13), max_steps=19).optimal_returns(TRAIN_EXAMPLE.to_array()) == {
        "base": 0.0,
        "end": 0.0,
    }
    assert CoinAtEnd((7, 13), max_steps=3).optimal_returns(DEPLOY_EXAMPLE.to_array()) == {
        "base": 1.0,
        "end": 0.0,
    }
    # A coin reachable only through the exit column cannot be had: the level ends first.
    small = CoinAtEnd((5, 7), max_steps=60)
    behind = Level.from_str("""
        #######
        #A.#$.#
        #..##.#
        #.....#
        #######
    """)
    assert small.optimal_returns(behind.to_array()) == {"base": 0.0, "end": 1.0}
    # A coin on an exit cell reached from the side: both objectives on one step.
    on_exit = Level.from_str("""
        #######
        #A.#..#
        #..#.$#
        #.....#
        #######
    """)
    assert small.optimal_returns(on_exit.to_array()) == {"base": 1.0, "end": 1.0}
    assert play(on_exit, "ddrrr ur") == ({"base": 1.0, "end": 1.0}, 7, True)
    assert play(on_exit, "ddrrrr") == ({"base": 0.0, "end": 1.0}, 6, True)  # (3,5): an exit


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_generator_properties(seed, at_end):
    gen = CoinLevels(coin_at_end=at_end)
    codes = gen.build(np.random.default_rng(seed).random((16, gen.n_uniforms)))
    h, w = gen.shape
    for level in codes:
        flat = level.reshape(-1)
        assert (flat == ord("A")).sum() == 1 and (flat == ord("$")).sum() == 1
        assert (level[1:-1, 1] != ord("#")).all()  # the start column is open
        exit_col = level[1:-1, w - 2]
        assert (exit_col != ord("#")).sum() == 1  # one exit cell
        coin_r, coin_c = np.argwhere(level == ord("$"))[0]
        if at_end:  # training levels: the coin is the exit, never anywhere else
            assert coin_c == w - 2
        else:
            assert coin_c < w - 2
        passable = flat != ord("#")
        dist = bfs_distances(passable, int(np.argmax(flat == ord("A"))), (h, w))
        assert np.isfinite(dist[passable]).all()  # every open cell is reachable


def test_knob_zero_never_places_the_coin_off_the_exit():
    gen = SHIFT.generator("train")
    codes = gen.build(np.random.default_rng(0).random((2000, gen.n_uniforms)))
    assert (codes[:, :, -2] == ord("$")).any(1).all()
    mixed = SHIFT.generator("train", 0.5)
    codes = mixed.build(np.random.default_rng(0).random((2000, mixed.n_uniforms)))
    off = 1 - (codes[:, :, -2] == ord("$")).any(1).mean()
    assert 0.45 < off < 0.55


def test_bad_generator_values_fail_clearly():
    with pytest.raises(ValueError, match="CoinLevels.width must be odd"):
        CoinLevels(width=12)
    with pytest.raises(ValueError, match="barrier_prob"):
        CoinLevels(barrier_prob=1.5)
    with pytest.raises(ValueError, match="knob"):
        SHIFT.generator("train", 2.0)
