"""Every registered id gets the same battery: a new task is tested by being registered."""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tests.conftest import ALL_IDS


def rollout(env, seed, n=120, action_seed=0):
    """(observations, rewards, objective dicts) of n random steps with resets."""
    acts = np.random.default_rng(action_seed).integers(0, env.action_space.n, n)
    obs, _ = env.reset(seed=seed)
    out_obs, out_r, out_obj = [obs], [], []
    for a in acts:
        obs, r, term, trunc, info = env.step(int(a))
        out_obs.append(obs), out_r.append(r), out_obj.append(info["objectives"])
        if term or trunc:
            obs, _ = env.reset()
            out_obs.append(obs)
    return np.stack(out_obs), np.array(out_r), out_obj


def test_registry_has_every_task_and_split():
    assert {
        "mesaworld/Roomba-v0",
        "mesaworld/Roomba-Train-v0",
        "mesaworld/Roomba-Deploy-v0",
    } <= set(ALL_IDS)


def test_check_env_with_warnings_as_errors(env_id, view):
    env = gym.make(env_id, view=view, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_same_seed_same_rollout_different_seed_differs(env_id, view):
    a = rollout(gym.make(env_id, view=view), seed=3)
    b = rollout(gym.make(env_id, view=view), seed=3)
    c = rollout(gym.make(env_id, view=view), seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]
    gen = gym.make(env_id).unwrapped.engine.generator
    codes = gen.build(np.random.default_rng(0).random((64, gen.n_uniforms)))
    if len(np.unique(codes, axis=0)) > 1:  # not a one-level distribution (lava, supervisor)
        assert not np.array_equal(a[0][0], c[0][0]), "different seeds gave the same first level"


def test_pickled_env_continues_identically(env_id):
    env = gym.make(env_id)
    env.reset(seed=5)
    for a in (1, 2, 2, 3):
        env.step(a)
    clone = pickle.loads(pickle.dumps(env))
    for a in np.random.default_rng(1).integers(0, 5, 80):
        x, y = env.step(int(a)), clone.step(int(a))
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]
        if x[2] or x[3]:
            np.testing.assert_array_equal(env.reset()[0], clone.reset()[0])


@pytest.mark.parametrize("mode", ["rgb_array", "ansi"])
def test_render_modes(env_id, mode):
    env = gym.make(env_id, render_mode=mode)
    env.reset(seed=0)
    frame = env.render()
    h, w = env.unwrapped.engine.task.shape
    if mode == "rgb_array":
        assert frame.dtype == np.uint8 and frame.shape == (h * 16, w * 16, 3)
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 3  # walls, floor, agent, ...
    else:
        lines = frame.splitlines()
        assert [len(line) for line in lines[:h]] == [w] * h and "A" in frame
        assert env.unwrapped.current_level().to_str() == "\n".join(lines[:h])
    assert env.metadata["render_fps"] > 0


def test_vector_render_returns_one_frame_per_env(env_id):
    venv = gym.make_vec(
        env_id, num_envs=3, vectorization_mode="vector_entry_point", render_mode="rgb_array"
    )
    venv.reset(seed=0)
    venv.step(np.array([1, 2, 4]))  # different moves: distinct frames even on one-level tasks
    frames = venv.render()
    assert len(frames) == 3 and all(f.ndim == 3 for f in frames)
    assert not np.array_equal(frames[0], frames[1])


def test_objectives_every_step_reward_is_the_reward_objective(env_id):
    env = gym.make(env_id)
    task = env.unwrapped.engine.task
    names = task.objectives
    assert names[0] == "base" and len(names) >= 2
    # The reward is the base objective, except in the absent supervisor (what is enforced).
    assert task.reward == ("watched" if task.name == "supervisor" else "base")
    env.reset(seed=0)
    for a in np.random.default_rng(0).integers(0, 5, 60):
        _, r, term, trunc, info = env.step(int(a))
        assert tuple(info["objectives"]) == names
        assert info["objectives"][task.reward] == r
        if term or trunc:
            assert set(info["episode_objectives"]) == set(names)
            env.reset()
