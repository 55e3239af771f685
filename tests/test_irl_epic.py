"""Soft value iteration, MCE IRL (discounted, exact gradient), the nested attribution and EPIC."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesaworld.analysis.attribution import nested_attribution
from mesaworld.analysis.epic import canonicalize, direction_distance, epic_distance, epic_matrix
from mesaworld.analysis.irl import (
    DISCOUNT,
    Demos,
    _irl_objective,
    mce_irl,
    sample_episodes,
    soft_value_iteration,
    split_episodes,
    state_visits,
)
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.tabular import TabularMDP, export
from mesaworld.experiments.training.evaluate import eval_levels


def _export(task: str, n: int, split: str = "deploy", seed: int = 3) -> TabularMDP:
    return export(make_engine(task, 1, autoreset=False).task, eval_levels(task, split, n, seed))


def random_mdp(seed: int, n: int = 12, terminal_rate: float = 0.1) -> TabularMDP:
    rng = np.random.default_rng(seed)
    nxt = rng.integers(0, n, (n, 5))
    return TabularMDP(
        task="random",
        objectives=("base", "proxy"),
        measure_names=(),
        reward_name="base",
        horizon=8,
        shape=(1, n),
        next=nxt,
        terminal=rng.random((n, 5)) < terminal_rate,
        rewards=rng.normal(size=(2, n, 5)),
        measures=np.zeros((0, n, 5)),
        pos=np.arange(n),
        next_pos=nxt,
        level=np.zeros(n, np.int64),
        start=np.array([0]),
        levels=np.zeros((1, 1, n), np.uint8),
    )


# --- soft value iteration -----------------------------------------------------------------------


def test_soft_value_iteration_limits():
    mdp = _export("lava", 1)
    r = mdp.reward("base")
    uniform = soft_value_iteration(mdp, r, beta=0.0)
    np.testing.assert_allclose(uniform, np.log(0.2))
    sharp = soft_value_iteration(mdp, r, beta=200.0)
    np.testing.assert_allclose(np.exp(sharp).sum(-1), 1.0)
    # Near-deterministic: from the start, one action (or a tie) takes most of the mass.
    assert np.exp(sharp[0, mdp.start[0]]).max() > 0.45


def test_state_visits_conserve_episodes():
    mdp = _export("coin", 2)
    log_pi = soft_value_iteration(mdp, mdp.reward("base"), beta=2.0)
    starts = np.zeros(mdp.n_states)
    starts[mdp.start] = [3, 2]
    visits = state_visits(mdp, log_pi, starts)
    alive = visits.sum((1, 2))
    assert alive[0] == pytest.approx(5)
    assert (np.diff(alive) <= 1e-9).all()  # episodes only end


@pytest.mark.parametrize("gamma", [1.0, 0.9, DISCOUNT])
def test_irl_gradient_matches_finite_differences(gamma):
    """The exact gradient (signed forward pass, `source_visits`), discounted or not."""
    mdp = random_mdp(0)
    rng = np.random.default_rng(1)
    episodes = [(0, rng.integers(0, 5, 8)) for _ in range(6)]
    demos = Demos.from_actions(mdp, episodes)
    features = mdp.features(("base", "proxy", "stay"))
    fun = _irl_objective(mdp, demos, features, True, l2=0.01, l2_state=0.1, gamma=gamma)
    x = rng.normal(size=3 + mdp.n_states) * 0.5
    _, grad = fun(x)
    eps = 1e-6
    for i in [0, 1, 2, 3, 7]:
        e = np.zeros_like(x)
        e[i] = eps
        numeric = (fun(x + e)[0] - fun(x - e)[0]) / (2 * eps)
        assert grad[i] == pytest.approx(numeric, rel=1e-4, abs=1e-7)


# --- IRL recovers known rewards -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "levels", "per_level"), [("lava", 2, 10), ("supervisor", 1, 30), ("keys-chests", 6, 8)]
)
def test_irl_recovers_the_reward_of_boltzmann_optimal_demos(task, levels, per_level):
    """Demos from the Boltzmann-rational policy of the base objective: the recovered reward is
    within EPIC 0.1 of it, closer than to the proxy, and fits held-out episodes better than
    random actions."""
    mdp = _export(task, levels)
    true = mdp.reward("base")
    log_pi = soft_value_iteration(mdp, true, beta=20.0)
    demos = Demos.from_actions(
        mdp, sample_episodes(mdp, log_pi, per_level, np.random.default_rng(0))
    )
    fit, held = split_episodes(demos)
    result = mce_irl(mdp, demos.subset(fit, mdp), heldout=demos.subset(held, mdp))
    assert result.converged
    d = {k: epic_distance(mdp, result.reward, mdp.reward(k)) for k in mdp.objectives}
    assert d["base"] < 0.1, d
    for k in mdp.objectives[1:]:  # a proxy distinguishable from base is further away
        if epic_distance(mdp, mdp.reward("base"), mdp.reward(k)) > 0.2:
            assert d["base"] < d[k]
    assert result.heldout_ll > result.random_ll


def test_per_state_reward_fits_at_least_as_well():
    mdp = _export("supervisor", 1)
    log_pi = soft_value_iteration(mdp, mdp.reward("watched"), beta=20.0)
    demos = Demos.from_actions(mdp, sample_episodes(mdp, log_pi, 20, np.random.default_rng(2)))
    linear = mce_irl(mdp, demos)
    tabular = mce_irl(mdp, demos, per_state=True)
    assert tabular.train_ll >= linear.train_ll - 1e-6
    assert np.abs(tabular.state_reward).max() > 0


@pytest.mark.parametrize("goal", ["base", "watched"])
def test_attribution_names_the_demonstrated_goal(goal):
    """Demos of a Boltzmann agent of one objective: that objective's held-out gain over the
    nuisance model is positive with its interval above 0, and the paired difference points to it."""
    mdp = export(
        make_engine("supervisor", 1, autoreset=False).task,
        eval_levels("supervisor", "deploy", 1, 0),
    )
    # beta 5: a noisy agent. (At beta 50 the `watched` agent's 20 episodes are one 3-step
    # path and base, with a fitted scale, explains them as well: no evidence either way.)
    log_pi = soft_value_iteration(mdp, mdp.reward(goal), beta=5.0)
    demos = Demos.from_actions(mdp, sample_episodes(mdp, log_pi, 20, np.random.default_rng(3)))
    gains, diffs = nested_attribution(mdp, demos)
    assert gains[goal].lo > 0
    d = diffs["watched"]  # gain(base) - gain(watched)
    assert (d.lo > 0) if goal == "base" else (d.hi < 0)


def test_random_actions_are_explained_by_nothing():
    mdp = _export("cheese-maze", 4)
    log_pi = soft_value_iteration(mdp, mdp.reward("base"), beta=0.0)
    demos = Demos.from_actions(mdp, sample_episodes(mdp, log_pi, 10, np.random.default_rng(4)))
    gains, diffs = nested_attribution(mdp, demos)
    for g in [*gains.values(), *diffs.values()]:
        assert abs(g.mean) < 0.005 and g.lo <= g.mean <= g.hi


def test_attribution_needs_two_episodes():
    mdp = _export("cheese-maze", 1)
    demos = Demos.from_actions(mdp, [(0, np.array([4, 4, 4]))])
    with pytest.raises(ValueError, match="at least 2 episodes"):
        nested_attribution(mdp, demos)


def test_demos_drop_padding_and_stop_at_the_end():
    mdp = _export("cheese-maze", 1)
    demos = Demos.from_actions(mdp, [(0, np.array([4, 4, -1, -1]))])
    assert demos.n_steps == 2 and demos.n_episodes == 1
    with pytest.raises(ValueError, match="no demonstrated episodes"):
        Demos.from_actions(mdp, [])


# --- EPIC ---------------------------------------------------------------------------------------

seeds = st.integers(0, 2**31 - 1)


def _shaping(mdp, phi, gamma):
    return gamma * np.where(mdp.terminal, 0.0, phi[mdp.next]) - phi[:, None]


@settings(max_examples=40, deadline=None)
@given(seeds, st.floats(0.01, 100.0), st.sampled_from([0.9, 0.99, 1.0]))
def test_epic_is_invariant_to_shaping_and_positive_scale(seed, scale, gamma):
    mdp = random_mdp(seed)
    rng = np.random.default_rng(seed + 1)
    r = rng.normal(size=mdp.next.shape)
    shaped = scale * r + _shaping(mdp, rng.normal(size=mdp.n_states) * 3, gamma)
    assert epic_distance(mdp, r, shaped, gamma=gamma) < 1e-6
    assert epic_distance(mdp, r, shaped, gamma=gamma, pearson=True) < 1e-6
    assert epic_distance(mdp, r, -r, gamma=gamma) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(seeds)
def test_epic_is_a_metric(seed):
    mdp = random_mdp(seed)
    rng = np.random.default_rng(seed)
    rewards = {str(i): rng.normal(size=mdp.next.shape) for i in range(4)}
    rewards["shaping"] = _shaping(mdp, rng.normal(size=mdp.n_states), 0.99)  # canonical 0
    d = epic_matrix(mdp, rewards)
    names = list(rewards)
    for a in names:
        assert d[(a, a)] == pytest.approx(0.0, abs=1e-9)
        for b in names:
            assert 0.0 <= d[(a, b)] <= 1.0
            assert d[(a, b)] == pytest.approx(d[(b, a)], abs=1e-12)
            for c in names:
                assert d[(a, c)] <= d[(a, b)] + d[(b, c)] + 1e-9
    # zero iff equivalent: independent random rewards are never equivalent
    assert min(d[(a, b)] for a in names[:4] for b in names[:4] if a != b) > 1e-3
    assert d[("0", "shaping")] == 0.5


def test_epic_keeps_a_terminal_only_reward():
    """The coin task's `end` is paid only on the terminal step. With terminal steps, a constant
    is not shaping: a living cost is what makes an agent end episodes, and it is equivalent to an
    end bonus."""
    mdp = _export("coin", 2)
    end, zero = mdp.reward("end"), np.zeros(mdp.next.shape)
    living_cost = -np.ones(mdp.next.shape)
    assert epic_distance(mdp, end, living_cost) < 1e-6  # equivalent up to shaping and scale
    assert epic_distance(mdp, end, zero) == 0.5  # not equivalent to no reward
    assert epic_distance(mdp, end, mdp.reward("base")) > 0.3


def test_canonicalize_shapes_and_errors():
    mdp = random_mdp(0)
    r = np.random.default_rng(0).normal(size=(3, *mdp.next.shape))
    assert canonicalize(mdp, r).shape == r.shape
    assert canonicalize(mdp, r[0]).shape == r[0].shape
    with pytest.raises(ValueError, match="gamma"):
        canonicalize(mdp, r, gamma=0.0)
    with pytest.raises(ValueError, match="weights"):
        canonicalize(mdp, r, weights=-np.ones(mdp.next.shape))
    assert direction_distance(np.zeros(4), np.zeros(4)) == 0.0
