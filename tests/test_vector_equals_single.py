"""The native vector env's API. That it equals the single env step for step across autoresets
(env i of a vector seeded s == single env seeded s+i) is checked for every task and view by the
task battery (`tests/battery.py`, `test_task_battery.py`)."""

import gymnasium as gym
import numpy as np
import pytest


def test_vector_autoreset_metadata_and_spaces():
    from gymnasium.vector import AutoresetMode

    venv = gym.make_vec("mesaworld/Roomba-v0", num_envs=4, vectorization_mode="vector_entry_point")
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    assert obs.shape == (4, *venv.single_observation_space.shape)


def test_episode_totals_reach_info_when_episodes_end():
    """The Gymnasium 1.x vector trap: finished episodes must be reported, once each."""
    venv = gym.make_vec(
        "mesaworld/Roomba-v0", num_envs=8, vectorization_mode="vector_entry_point", max_steps=10
    )
    venv.reset(seed=0)
    ended = 0
    for _ in range(35):
        _, _, term, trunc, info = venv.step(np.zeros(8, np.int64))
        done = term | trunc
        if done.any():
            np.testing.assert_array_equal(info["_episode_objectives"], done)
            assert (info["episode_length"][done] == 10).all()
        ended += done.sum()
    assert ended == 8 * 3  # episodes end at t=10, 21, 32 (one reset step between)


def test_vector_rejects_bad_actions():
    venv = gym.make_vec("mesaworld/Roomba-v0", num_envs=2, vectorization_mode="vector_entry_point")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        venv.step(np.array([0, 7]))
