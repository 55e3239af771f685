"""The native vector env and the single env are the same code: identical results for the same
seeds and actions, across NEXT_STEP autoresets (env i of a vector seeded s == single env seeded s+i)."""

import gymnasium as gym
import numpy as np
import pytest

B, STEPS, SEED = 6, 260, 11


@pytest.mark.parametrize("split", ["train", "deploy"])
def test_vector_matches_single_envs(split, view):
    kw = {"split": split, "view": view, "max_steps": 20}
    venv = gym.make_vec(
        "mesaworld/Roomba-v0", num_envs=B, vectorization_mode="vector_entry_point", **kw
    )
    singles = [gym.make("mesaworld/Roomba-v0", **kw) for _ in range(B)]
    vobs, _ = venv.reset(seed=SEED)
    sobs = [env.reset(seed=SEED + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(vobs, np.stack(sobs))
    acts = np.random.default_rng(0).integers(0, 5, (STEPS, B))
    pending = [False] * B  # single env i ended last step: NEXT_STEP means reset now
    resets = 0
    for t in range(STEPS):
        vobs, vr, vterm, vtrunc, vinfo = venv.step(acts[t])
        for i, env in enumerate(singles):
            if pending[i]:
                obs, _ = env.reset()
                r, term, trunc = 0.0, False, False
                objectives = dict.fromkeys(vinfo["objectives"], 0.0)
                pending[i] = False
                resets += 1
            else:
                obs, r, term, trunc, info = env.step(int(acts[t, i]))
                objectives = info["objectives"]
                if term or trunc:
                    pending[i] = True
                    assert vinfo["_episode_objectives"][i]
                    for k, v in info["episode_objectives"].items():
                        assert vinfo["episode_objectives"][k][i] == v
                    assert vinfo["episode_length"][i] == info["episode_length"]
            np.testing.assert_array_equal(vobs[i], obs, err_msg=f"step {t} env {i}")
            assert (vr[i], vterm[i], vtrunc[i]) == (r, term, trunc), f"step {t} env {i}"
            for k, v in objectives.items():
                assert vinfo["objectives"][k][i] == v, f"step {t} env {i} objective {k}"
    assert resets >= 2 * B, "the comparison must cross several autoresets"


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
