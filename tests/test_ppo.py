"""PPO pieces: GAE against a plain loop, the loss, one update, networks."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mesaworld.agents.registry import make_agent
from mesaworld.experiments.training.ppo import gae, ppo_loss


def reference_gae(rewards, values, terminated, truncated, gamma, lam):
    """A plain per-env, per-step loop, written from the definition."""
    T, B = rewards.shape
    adv = np.zeros((T, B))
    for b in range(B):
        running = 0.0
        for t in reversed(range(T)):
            if terminated[t, b]:
                delta, running = rewards[t, b] - values[t, b], 0.0
            else:
                delta = rewards[t, b] + gamma * values[t + 1, b] - values[t, b]
                if truncated[t, b]:
                    running = 0.0  # bootstrap from the final obs, but no lambda-chain across
            running = delta + gamma * lam * running
            adv[t, b] = running
    return adv


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 4),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.integers(0, 2**31 - 1),
)
def test_gae_matches_reference_loop(T, B, gamma, lam, seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, B))
    values = rng.normal(size=(T + 1, B))
    terminated = rng.random((T, B)) < 0.2
    truncated = (rng.random((T, B)) < 0.2) & ~terminated
    got = gae(
        torch.tensor(rewards),
        torch.tensor(values),
        torch.tensor(terminated),
        torch.tensor(truncated),
        gamma,
        lam,
    )
    want = reference_gae(rewards, values, terminated, truncated, gamma, lam)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


def test_gae_lambda_one_no_ends_is_discounted_return_minus_value():
    rewards = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    values = torch.tensor([[0.5], [0.0], [0.0], [10.0]], dtype=torch.float64)
    no = torch.zeros(3, 1, dtype=torch.bool)
    adv = gae(rewards, values, no, no, 0.5, 1.0)
    # return from step 0: 1 + 0.5*2 + 0.25*3 + 0.125*10 = 4.0
    assert adv[0, 0].item() == pytest.approx(4.0 - 0.5)


def _batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "new_logprob": torch.randn(n, generator=g) * 0.1 - 1.6,
        "old_logprob": torch.randn(n, generator=g) * 0.1 - 1.6,
        "advantages": torch.randn(n, generator=g),
        "new_value": torch.randn(n, generator=g),
        "returns": torch.randn(n, generator=g),
        "entropy": torch.rand(n, generator=g) + 1.0,
    }


def test_ppo_loss_ignores_invalid_transitions():
    b = _batch()
    valid = torch.ones(64, dtype=torch.bool)
    valid[::3] = False
    loss, stats = ppo_loss(**b, valid=valid, clip_coef=0.2, vf_coef=0.5, ent_coef=0.01)
    garbage = dict(b)
    for key in ("advantages", "returns", "new_value"):
        garbage[key] = b[key].clone()
        garbage[key][~valid] = 1e6
    loss2, _ = ppo_loss(**garbage, valid=valid, clip_coef=0.2, vf_coef=0.5, ent_coef=0.01)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(loss2.item(), rel=1e-6)
    assert set(stats) == {"policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"}


def test_ppo_loss_clips_large_ratios():
    n = 8
    adv = torch.ones(n)
    kwargs = dict(
        advantages=adv,
        new_value=torch.zeros(n),
        returns=torch.zeros(n),
        entropy=torch.zeros(n),
        valid=torch.ones(n, dtype=torch.bool),
        clip_coef=0.2,
        vf_coef=0.5,
        ent_coef=0.0,
        norm_adv=False,
    )
    # ratio e^1 >> 1.2 with positive advantage: the objective is capped at 1.2 * A.
    loss, stats = ppo_loss(torch.ones(n), torch.zeros(n), **kwargs)
    assert loss.item() == pytest.approx(-1.2)
    assert stats["clipfrac"] == 1.0


@pytest.mark.parametrize("network,shape", [("mlp", (4, 13, 13)), ("cnn", (5, 9, 9))])
def test_one_update_changes_parameters_and_gives_finite_loss(network, shape):
    torch.manual_seed(0)
    agent = make_agent(network, shape, 5, 32)
    opt = torch.optim.Adam(agent.parameters(), lr=1e-3)
    obs = torch.randint(0, 2, (16, *shape), dtype=torch.uint8)
    with torch.no_grad():
        action, logprob, _, value = agent.get_action_and_value(obs)
    before = [p.detach().clone() for p in agent.parameters()]
    _, new_logprob, entropy, new_value = agent.get_action_and_value(obs, action)
    loss, _ = ppo_loss(
        new_logprob,
        logprob,
        torch.randn(16),
        new_value,
        value + 1.0,
        entropy,
        torch.ones(16, dtype=torch.bool),
        0.2,
        0.5,
        0.01,
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = [not torch.equal(a, b) for a, b in zip(before, agent.parameters())]
    assert all(changed)


def test_sampling_is_decided_by_the_generator():
    agent = make_agent("mlp", (4, 5, 5), 5, 16)
    obs = torch.zeros((32, 4, 5, 5), dtype=torch.uint8)
    a1 = agent.get_action_and_value(obs, generator=torch.Generator().manual_seed(7))[0]
    a2 = agent.get_action_and_value(obs, generator=torch.Generator().manual_seed(7))[0]
    assert torch.equal(a1, a2)


def test_unknown_network_is_an_error():
    with pytest.raises(ValueError, match="network must be one of"):
        make_agent("transformer", (4, 5, 5), 5, 16)
