"""The fast soft value iteration and MCE IRL (`mesaworld.analysis.irl`: action-first arrays, only
the states an episode can occupy at each time, only the levels the demos visit) against the
dense implementation they replaced, kept here as the reference: the same soft values, policies,
visits, likelihoods, gradients and recovered rewards, to ~1e-9 relative, on random tabular MDPs
and on exported Roomba levels. `benchmarks/irl_speed.py` times the two side by side."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import optimize

from mesaworld.analysis import attribution, irl
from mesaworld.analysis.behavioral import BehaviorSettings, analyze
from mesaworld.analysis.gap import reference_returns
from mesaworld.analysis.irl import DISCOUNT, Demos
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.tabular import TabularMDP, export, optimal_values
from mesaworld.experiments.training.evaluate import eval_levels

RTOL, ATOL = 1e-9, 1e-12  # one solve: rounding only
# A fit: L-BFGS amplifies rounding (up to ~5e-9 of the largest weight seen with a reward per
# state), so fitted weights and rewards are compared relative to their largest entry.
FIT_RTOL = 1e-8

# --- the dense reference (analysis/irl.py before the fast solver) -------------------------------


def dense_soft_value_iteration(mdp, reward, beta=1.0, horizon=None, gamma=None):
    gamma = DISCOUNT if gamma is None else float(gamma)
    t_max = mdp.horizon if horizon is None else int(horizon)
    r = beta * np.asarray(reward, np.float64)
    live = ~mdp.terminal
    log_pi = np.empty((t_max, *mdp.next.shape))
    value = np.zeros(mdp.n_states)
    log_a = float(np.log(mdp.n_actions))
    for t in range(t_max - 1, -1, -1):
        left = t_max - t - 1
        absorbing = log_a * (left if gamma == 1.0 else (1.0 - gamma**left) / (1.0 - gamma))
        q = r + gamma * np.where(live, value[mdp.next], absorbing)
        top = q.max(1)
        value = top + np.log(np.exp(q - top[:, None]).sum(1))
        log_pi[t] = q - value[:, None]
    return log_pi


def dense_state_visits(mdp, log_pi, start):
    live = ~mdp.terminal
    d = np.asarray(start, np.float64)
    visits = np.empty((len(log_pi), *mdp.next.shape))
    for t in range(len(log_pi)):
        visits[t] = d[:, None] * np.exp(log_pi[t])
        flow = np.where(live, visits[t], 0.0)
        d = np.bincount(mdp.next.ravel(), weights=flow.ravel(), minlength=mdp.n_states)
    return visits


def dense_source_visits(mdp, log_pi, demos, gamma=None):
    gamma = DISCOUNT if gamma is None else float(gamma)
    t_max = len(log_pi)
    live = ~mdp.terminal
    after = mdp.next[demos.state, demos.action]
    goes_on = live[demos.state, demos.action] & (demos.time + 1 < t_max)
    src_t = np.concatenate([demos.time, demos.time[goes_on] + 1])
    src_s = np.concatenate([demos.state, after[goes_on]])
    src_w = np.concatenate([-np.ones(demos.n_steps), np.full(int(goes_on.sum()), gamma)])
    order = np.argsort(src_t, kind="stable")
    bounds = np.searchsorted(src_t[order], np.arange(t_max + 1))
    d = np.zeros(mdp.n_states)
    total = np.zeros(mdp.next.shape)
    for t in range(t_max):
        part = order[bounds[t] : bounds[t + 1]]
        d += np.bincount(src_s[part], weights=src_w[part], minlength=mdp.n_states)
        step = d[:, None] * np.exp(log_pi[t])
        total += step
        flow = np.where(live, step, 0.0)
        d = gamma * np.bincount(mdp.next.ravel(), weights=flow.ravel(), minlength=mdp.n_states)
    return total


def dense_objective(mdp, demos, features, per_state, l2, l2_state, gamma):
    f = features.shape[-1]
    emp_f = demos.feature_counts(features)
    emp_s = np.bincount(demos.state, minlength=mdp.n_states).astype(np.float64)
    n = demos.n_steps

    def fun(params):
        theta, w = params[:f], params[f:]
        reward = features @ theta
        if per_state:
            reward = reward + w[:, None]
        log_pi = dense_soft_value_iteration(mdp, reward, gamma=gamma)
        ll = float(log_pi[demos.time, demos.state, demos.action].sum())
        visits = dense_source_visits(mdp, log_pi, demos, gamma)
        grad_theta = emp_f + np.einsum("sa,saf->f", visits, features)
        loss = -ll / n + 0.5 * l2 * theta @ theta
        grad = [-grad_theta / n + l2 * theta]
        if per_state:
            loss += 0.5 * l2_state * w @ w
            grad.append(-(emp_s + visits.sum(1)) / n + l2_state * w)
        return loss, np.concatenate(grad)

    return fun


def dense_mce_irl(
    mdp,
    demos,
    features,
    heldout=None,
    per_state=False,
    l2=1e-5,
    l2_state=1e-2,
    max_iter=200,
    tol=1e-7,
    gamma=None,
    nonnegative=(),
    init=None,
) -> dict:
    """The old `mce_irl`: what the fit returns, as a dict."""
    fun = dense_objective(mdp, demos, features, per_state, l2, l2_state, gamma)
    x0 = np.zeros(features.shape[-1] + (mdp.n_states if per_state else 0))
    if init is not None:
        x0[: len(init)] = init
    bounds = [(0.0, None) if i in nonnegative else (None, None) for i in range(len(x0))]
    res = optimize.minimize(
        fun,
        x0,
        jac=True,
        bounds=bounds if nonnegative else None,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12},
    )
    f = features.shape[-1]
    state_reward = res.x[f:] if per_state else np.zeros(mdp.n_states)
    reward = features @ res.x[:f] + state_reward[:, None]
    log_pi = dense_soft_value_iteration(mdp, reward, gamma=gamma)
    out = dict(
        theta=res.x[:f],
        reward=reward,
        train_ll=float(log_pi[demos.time, demos.state, demos.action].sum()) / demos.n_steps,
        iterations=int(res.nit),
    )
    if heldout is not None:
        ll = log_pi[heldout.time, heldout.state, heldout.action]
        episodes = np.bincount(heldout.episode, ll, int(heldout.episode.max()) + 1)
        out.update(heldout_ll=float(episodes.sum()) / heldout.n_steps, heldout_episode_ll=episodes)
    return out


def dense_policy_visits(mdp, reward, beta, start, gamma=None):
    log_pi = dense_soft_value_iteration(mdp, reward, beta, gamma=gamma)
    return dense_state_visits(mdp, log_pi, start).sum(0)


# --- tables -------------------------------------------------------------------------------------


def random_mdp(seed: int, n: int = 30, levels: int = 3, terminal_rate: float = 0.1) -> TabularMDP:
    """`levels` disjoint random levels of n states each (transitions stay within a level)."""
    rng = np.random.default_rng(seed)
    level = np.repeat(np.arange(levels), n)
    nxt = level[:, None] * n + rng.integers(0, n, (n * levels, 5))
    return TabularMDP(
        task="random",
        objectives=("base", "proxy"),
        measure_names=(),
        reward_name="base",
        horizon=int(rng.integers(3, 12)),
        shape=(1, n),
        next=nxt,
        terminal=rng.random(nxt.shape) < terminal_rate,
        rewards=rng.normal(size=(2, *nxt.shape)),
        measures=np.zeros((0, *nxt.shape)),
        pos=np.arange(n * levels) % n,
        next_pos=nxt % n,
        level=level,
        start=np.arange(levels) * n,
        levels=np.zeros((levels, 1, n), np.uint8),
    )


def _demos(mdp: TabularMDP, per_level: int, beta: float, seed: int) -> Demos:
    log_pi = irl.soft_value_iteration(mdp, mdp.reward("base"), beta)
    return Demos.from_actions(
        mdp, irl.sample_episodes(mdp, log_pi, per_level, np.random.default_rng(seed))
    )


@pytest.fixture(scope="module")
def roomba() -> TabularMDP:
    """Three Roomba train evaluation levels, exported: ~9,500 states, horizon 50."""
    task = make_engine("roomba", 1, autoreset=False).task
    return export(task, eval_levels("roomba", "train", 3, 20261123))


def close(new, ref) -> None:
    np.testing.assert_allclose(new, ref, rtol=RTOL, atol=ATOL)


# --- random tables ------------------------------------------------------------------------------

CASES = [(seed, gamma) for seed in range(6) for gamma in (1.0, 0.9, DISCOUNT)]


@pytest.mark.parametrize(("seed", "gamma"), CASES)
def test_soft_values_policies_and_visits_match_the_dense_reference(seed, gamma):
    mdp = random_mdp(seed, terminal_rate=0.2 if seed % 2 else 0.0)
    rng = np.random.default_rng(seed)
    reward = rng.normal(size=mdp.next.shape)
    start = np.where(rng.random(mdp.n_states) < 0.2, rng.random(mdp.n_states), 0.0)
    start[mdp.start[0]] = 2.0
    for beta in (0.0, 1.0, 30.0):
        for horizon in (None, 4):
            ref = dense_soft_value_iteration(mdp, reward, beta, horizon, gamma)
            log_pi = irl.soft_value_iteration(mdp, reward, beta, horizon, gamma=gamma)
            close(log_pi, ref)
            close(irl.state_visits(mdp, log_pi, start), dense_state_visits(mdp, ref, start))
        close(
            irl.policy_visits(mdp, reward, beta, start, gamma),
            dense_policy_visits(mdp, reward, beta, start, gamma),
        )
    demos = _demos(mdp, 3, 1.0, seed)
    close(
        irl.source_visits(mdp, log_pi, demos, gamma),
        dense_source_visits(mdp, ref, demos, gamma),
    )


@pytest.mark.parametrize(("seed", "gamma"), CASES)
@pytest.mark.parametrize("per_state", [False, True])
def test_irl_objective_matches_the_dense_reference(seed, gamma, per_state):
    """Loss and gradient, also for demos that start anywhere at any time (not at a level's start:
    the solver must not leave out a state they occupy) and that visit one level of three."""
    mdp = random_mdp(seed)
    rng = np.random.default_rng(seed + 100)
    features = mdp.features(("base", "proxy", "stay"))
    odd = Demos(
        time=rng.integers(0, mdp.horizon, 12),
        state=rng.integers(0, mdp.n_states, 12),
        action=rng.integers(0, 5, 12),
        episode=np.arange(12) // 3,
        starts=np.zeros(mdp.n_states),
    )
    one_level = Demos.from_actions(mdp, [(1, rng.integers(0, 5, mdp.horizon)) for _ in range(4)])
    for demos in (odd, one_level, _demos(mdp, 2, 2.0, seed)):
        args = (mdp, demos, features, per_state, 0.01, 0.1, gamma)
        fast, dense = irl._irl_objective(*args), dense_objective(*args)
        for _ in range(3):
            x = rng.normal(size=3 + (mdp.n_states if per_state else 0))
            (loss, grad), (ref_loss, ref_grad) = fast(x), dense(x)
            assert loss == pytest.approx(ref_loss, rel=RTOL)
            close(grad, ref_grad)


@pytest.mark.parametrize("seed", range(4))
def test_mce_irl_matches_the_dense_reference(seed):
    mdp = random_mdp(seed, terminal_rate=0.05)
    demos = _demos(mdp, 6, 3.0, seed)
    fit, held = irl.split_episodes(demos)
    train, heldout = demos.subset(fit, mdp), demos.subset(held, mdp)
    features = mdp.features(("base", "proxy", "stay", "step"))
    for per_state in (False, True):
        got = irl.mce_irl(mdp, train, heldout=heldout, features=features, per_state=per_state)
        _same_fit(got, dense_mce_irl(mdp, train, features, heldout, per_state=per_state))


def _same_fit(got: irl.IRLResult, ref: dict) -> None:
    for key in ("theta", "reward", "heldout_episode_ll"):
        if key in ref:
            want = ref[key]
            scale = FIT_RTOL * np.abs(want).max()
            np.testing.assert_allclose(getattr(got, key), want, rtol=FIT_RTOL, atol=scale)
    assert got.train_ll == pytest.approx(ref["train_ll"], rel=FIT_RTOL)
    assert got.iterations == ref["iterations"]
    if "heldout_ll" in ref:
        assert got.heldout_ll == pytest.approx(ref["heldout_ll"], rel=FIT_RTOL)


# --- exported Roomba levels ---------------------------------------------------------------------


def test_roomba_soft_values_and_visits_match(roomba):
    rng = np.random.default_rng(0)
    reward = roomba.features() @ rng.normal(size=len(roomba.feature_names))
    starts = np.zeros(roomba.n_states)
    starts[roomba.start] = [3, 1, 2]
    for beta in (0.0, 1.0, 100.0):  # random, Boltzmann, the gap's near-optimal policy
        ref = dense_soft_value_iteration(roomba, reward, beta)
        close(irl.soft_value_iteration(roomba, reward, beta), ref)
        close(
            irl.policy_visits(roomba, reward, beta, starts),
            dense_policy_visits(roomba, reward, beta, starts),
        )
    rand = dense_policy_visits(roomba, np.zeros(roomba.next.shape), 0.0, starts)
    for k, name in enumerate(roomba.objectives):
        want = (
            (rand * roomba.rewards[k]).sum(),
            optimal_values(roomba, roomba.rewards[k]) @ starts,
        )
        assert reference_returns(roomba, starts)[name] == pytest.approx(want, rel=RTOL)


def test_roomba_irl_fit_matches(roomba, monkeypatch):
    """The recovered reward of the analysis's main fit (every named feature, 4 of 5 episodes)
    and of an attribution model (stay + base, base >= 0, warm-started), and the attribution's
    gains and intervals."""
    demos = _demos(roomba, 5, 5.0, 1)
    fit, held = irl.split_episodes(demos)
    train, heldout = demos.subset(fit, roomba), demos.subset(held, roomba)
    features = roomba.features()
    _same_fit(
        irl.mce_irl(roomba, train, heldout=heldout, features=features),
        dense_mce_irl(roomba, train, features, heldout),
    )
    both = roomba.features(("stay", "base"))
    kw = dict(max_iter=100, tol=1e-6, nonnegative=(1,), init=np.array([-0.5, 0.0]))
    _same_fit(
        irl.mce_irl(roomba, train, heldout=heldout, features=both, **kw),
        dense_mce_irl(roomba, train, both, heldout, **kw),
    )
    fast = attribution.nested_attribution(roomba, demos)

    def dense(mdp, demos, heldout, features, **kw):
        return SimpleNamespace(**dense_mce_irl(mdp, demos, features, heldout, **kw))

    monkeypatch.setattr(attribution, "mce_irl", dense)
    for got, ref in zip(fast, attribution.nested_attribution(roomba, demos)):
        assert got.keys() == ref.keys()
        for k in got:
            got_k, ref_k = [got[k].mean, got[k].lo, got[k].hi], [ref[k].mean, ref[k].lo, ref[k].hi]
            np.testing.assert_allclose(got_k, ref_k, rtol=FIT_RTOL, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_optimal_return_matches_optimal_values(seed):
    mdp = random_mdp(seed, terminal_rate=0.2 if seed % 2 else 0.0)
    rng = np.random.default_rng(seed)
    reward = rng.normal(size=mdp.next.shape)
    start = np.where(rng.random(mdp.n_states) < 0.3, rng.random(mdp.n_states), 0.0)
    want = optimal_values(mdp, reward) @ start
    assert irl.optimal_return(mdp, reward, start) == pytest.approx(want, rel=RTOL, abs=ATOL)


# --- progress -----------------------------------------------------------------------------------


def test_analyze_reports_progress_per_run(tmp_path, capsys):
    """A line per finished run on stderr, with its time by stage, the time elapsed and the time
    left; nothing there with `quiet`. (The timings ride along in `RunBehavior.seconds`.)"""
    lava = Path(__file__).parent / "data" / "behavior" / "lava"
    analyze(lava, BehaviorSettings(levels=4), out=tmp_path / "a")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    for i, line in enumerate(lines, 1):
        pattern = rf"\[{i}/3\] lava_knob0_seed{i - 1}: [\d.]+ s \(.*\); elapsed .+, about .+ left"
        assert re.fullmatch(pattern, line), line
    assert lines[-1].endswith("about 0 s left")
    one = tmp_path / "one" / "lava_knob0_seed0"  # one run is enough to print a line (saves ~1 s)
    shutil.copytree(lava / one.name, one)
    analyze(one.parent, BehaviorSettings(levels=4), out=tmp_path / "b", quiet=True)
    assert capsys.readouterr() == ("", "")
