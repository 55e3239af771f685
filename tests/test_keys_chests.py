"""Keys and chests: golden scripted episodes for every objective, the oracle, generator properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted import play_totals

import mesaworld.envs  # noqa: F401  (registers the ids)
from mesaworld.envs.level import Level
from mesaworld.envs.planning import bfs_distances
from mesaworld.envs.tasks.keys_chests import (
    DEPLOY_EXAMPLE,
    SHIFT,
    TRAIN_EXAMPLE,
    KeysChests,
    KeysChestsLevels,
)


def play(level, actions, **kw):
    return play_totals("mesaworld/KeysChests-v0", level, actions, **kw)


def test_train_level_every_key_opens_a_chest():
    # key, chest, key, chest: then no key is held or left, so the episode ends
    totals, steps, term = play(TRAIN_EXAMPLE, "rr rrddr ddrddl lll")
    assert (totals, steps, term) == ({"base": 2.0, "keys": 2.0}, 16, True)


def test_deploy_level_key_collecting_costs_steps():
    aligned = play(DEPLOY_EXAMPLE, "rr lldddd")  # one key, then the only chest: done
    assert aligned == ({"base": 1.0, "keys": 1.0}, 8, True)
    proxy = play(DEPLOY_EXAMPLE, "rr rrddr ddrddl lll lluu")  # every key first, then the chest
    assert proxy == ({"base": 1.0, "keys": 4.0}, 20, True)
    # with a 12-step horizon the key collector never gets to the chest
    assert play(DEPLOY_EXAMPLE, "rr rrddr ddrddl lll lluu", max_steps=12) == (
        {"base": 0.0, "keys": 2.0},
        12,
        False,
    )


def test_a_chest_without_a_key_stays_shut():
    level = Level.from_str("#######\n#AT.k.#\n#######")
    assert play(level, "r") == ({"base": 0.0, "keys": 0.0}, 1, False)
    assert play(level, "rrrll") == ({"base": 1.0, "keys": 1.0}, 5, True)


def test_oracle_on_hand_solved_levels():
    task = KeysChests((9, 9), max_steps=30)
    assert task.optimal_returns(TRAIN_EXAMPLE.to_array()) == {"base": 2.0, "keys": 2.0}
    assert task.optimal_returns(DEPLOY_EXAMPLE.to_array()) == {"base": 1.0, "keys": 4.0}
    assert KeysChests((9, 9), max_steps=7).optimal_returns(TRAIN_EXAMPLE.to_array())["base"] == 1
    assert KeysChests((9, 9), max_steps=6).optimal_returns(TRAIN_EXAMPLE.to_array())["base"] == 0
    line = Level.from_str("#######\n#AT.k.#\n#######")
    got = KeysChests((3, 7), max_steps=10).optimal_returns(line.to_array())
    assert got == {"base": 1.0, "keys": 1.0}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_generator_ratios_and_connectivity(seed):
    rng = np.random.default_rng(seed)
    for split, more in (("train", "chests"), ("deploy", "keys")):
        gen = SHIFT.generator(split)
        for level in gen.build(rng.random((8, gen.n_uniforms))):
            keys, chests = (level == ord("k")).sum(), (level == ord("T")).sum()
            assert (chests > keys) if more == "chests" else (keys > chests)
            flat = level.reshape(-1)
            passable = (flat != ord("#")) & (flat != ord("B"))
            dist = bfs_distances(passable, int(np.argmax(flat == ord("A"))), level.shape)
            assert np.isfinite(dist[passable]).all()


def test_bad_generator_values_fail():
    with pytest.raises(ValueError, match="keys must be a range"):
        KeysChestsLevels(keys=(3, 1))
    with pytest.raises(ValueError, match="at most 12"):
        KeysChestsLevels(keys=(8, 8), chests=(8, 8))
