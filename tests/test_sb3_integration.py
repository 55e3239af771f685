"""Our registered envs are for any agent: Stable-Baselines3 PPO trains on them through plain
Gymnasium (SB3's own Monitor and DummyVecEnv are the only wrappers). stable-baselines3 is in the
dev extra, so a missing install fails here instead of skipping."""

import gymnasium as gym
import numpy as np
import pytest

import mesaworld.envs  # noqa: F401  (registers the ids)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The minimal resolution for an image")
def test_sb3_ppo_trains_and_predicts_on_a_registered_id():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.env_util import make_vec_env

    check_env(gym.make("mesaworld/Roomba-Train-v0", view="egocentric").unwrapped)
    vec = make_vec_env(
        "mesaworld/Roomba-Train-v0", n_envs=4, seed=0, env_kwargs={"view": "egocentric"}
    )
    model = PPO("MlpPolicy", vec, n_steps=128, batch_size=128, n_epochs=2, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=1024)
    assert any(
        not np.array_equal(a.numpy(), b.detach().numpy())
        for a, b in zip(before, model.policy.parameters())
    )
    # SB3's Monitor saw our episodes end (50-step horizon) and recorded their returns.
    assert len(model.ep_info_buffer) > 0
    assert all(0 <= ep["r"] <= 8 for ep in model.ep_info_buffer)
    env = gym.make("mesaworld/Roomba-Deploy-v0", view="egocentric")
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=False)
    env.step(int(action))
