"""Boltzmann-rational policies and maximum causal entropy IRL on a `mesaworld.envs.tabular.TabularMDP`.

Everything is finite-horizon, like the episodes: the policy at time t depends on the steps left,
`horizon - t`, and a terminal step leads to an absorbing state that pays nothing until the
horizon. One discount, DISCOUNT = 0.99 (the discount every agent here trains with,
`TrainConfig.gamma`), is used by every model of an agent in `analysis`: IRL, the attribution,
the gap's policies and EPIC. Undiscounted, "reach the cheese" has no preference for reaching it
soon, and a planner's shortest path would be no evidence for it. Shapes: S states, A actions,
T horizon, F features.

    soft_value_iteration(mdp, reward, beta)     log pi_t(a|s) for the Boltzmann-rational policy
    Demos.from_actions(mdp, episodes)           trajectories as (time, state, action) steps
    log_likelihood(log_pi, demos)               sum of log pi_t(a_t | s_t)
    mce_irl(mdp, demos, features)               the linear reward that best explains the demos

Ziebart et al. (2010) for maximum causal entropy. The gradient of the demos' log likelihood is
exact here because the dynamics are known: d log pi_t(a|s) = dQ_t(s, a) - E_pi dQ_t(s, .), and
summed over the demos' steps it is the empirical feature counts plus the features of a forward
pass from signed sources (-1 where a demo step starts, +DISCOUNT where it leads):
`source_visits`. Without discount the sources telescope to minus the episodes' starts, the
familiar (empirical - expected) feature counts. With a discount the log likelihood is no longer
guaranteed concave; L-BFGS from zero finds the fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from mesaworld.analysis.soft_vi import (  # noqa: F401  (re-exported: irl is the solver's front door)
    DISCOUNT,
    _absorbing,
    _backward,
    _exp_of,
    _forward,
    _Layout,
    _layout,
    _openblas,
    _pi_buffers,
    _steps,
    one_blas_thread,
    optimal_return,
    policy_visits,
    soft_value_iteration,
    state_visits,
)
from mesaworld.envs.tabular import TabularMDP


@dataclass(frozen=True)
class Demos:
    """Demonstrated steps, flattened over episodes: int64[n] each of time, state, action,
    episode; `starts` is float64[S] episode counts per start state."""

    time: np.ndarray
    state: np.ndarray
    action: np.ndarray
    episode: np.ndarray
    starts: np.ndarray

    @property
    def n_steps(self) -> int:
        return len(self.state)

    @property
    def n_episodes(self) -> int:
        return int(self.starts.sum())

    @classmethod
    def from_actions(cls, mdp: TabularMDP, episodes: list[tuple[int, np.ndarray]]) -> Demos:
        """Replay (level index, int[T] actions) episodes on the table (actions after the
        episode's end, e.g. -1 padding, are dropped)."""
        parts = []
        starts = np.zeros(mdp.n_states)
        for e, (lvl, actions) in enumerate(episodes):
            actions = np.asarray(actions, np.int64)
            actions = actions[: np.argmax(actions < 0)] if (actions < 0).any() else actions
            states, taken = mdp.replay(lvl, actions)
            starts[mdp.start[lvl]] += 1
            n = len(states)
            parts.append((np.arange(n), states, taken, np.full(n, e)))
        if not parts:
            raise ValueError("no demonstrated episodes")
        cols = [np.concatenate([p[i] for p in parts]).astype(np.int64) for i in range(4)]
        return cls(*cols, starts=starts)

    def subset(self, episodes: np.ndarray, mdp: TabularMDP) -> Demos:
        """The demos of the given episode numbers."""
        keep = np.isin(self.episode, episodes)
        first = keep & (self.time == 0)
        starts = np.bincount(self.state[first], minlength=mdp.n_states).astype(np.float64)
        return Demos(
            self.time[keep], self.state[keep], self.action[keep], self.episode[keep], starts
        )

    def feature_counts(self, features: np.ndarray) -> np.ndarray:
        """float64[F]: the demos' summed features (features float[S, A, F])."""
        return features[self.state, self.action].sum(0)


def sample_episodes(
    mdp: TabularMDP, log_pi: np.ndarray, per_level: int, rng: np.random.Generator
) -> list[tuple[int, np.ndarray]]:
    """`per_level` (level, actions) episodes on every exported level, drawn from the
    time-dependent policy `log_pi` (e.g. `soft_value_iteration` output): synthetic demos."""
    episodes = []
    for lvl in range(len(mdp.start)):
        for _ in range(per_level):
            s, actions = int(mdp.start[lvl]), []
            for t in range(len(log_pi)):
                p = np.exp(log_pi[t, s])
                a = int(rng.choice(mdp.n_actions, p=p / p.sum()))
                actions.append(a)
                if mdp.terminal[s, a]:
                    break
                s = int(mdp.next[s, a])
            episodes.append((lvl, np.array(actions)))
    return episodes


def log_likelihood(log_pi: np.ndarray, demos: Demos) -> float:
    """Sum over demonstrated steps of log pi_t(a_t | s_t)."""
    return float(log_pi[demos.time, demos.state, demos.action].astype(np.float64).sum())


def random_log_likelihood(mdp: TabularMDP, demos: Demos) -> float:
    """The demos' log likelihood under the uniformly random policy: the floor of every fit."""
    return -demos.n_steps * float(np.log(mdp.n_actions))


# --- maximum causal entropy IRL -------------------------------------------------------------


@dataclass
class IRLResult:
    """A recovered reward: `theta` per feature name, `state_reward` float64[S] (zeros unless
    fitted), `reward` float64[S, A] = features @ theta + state_reward[s]. Fit: per-step log
    likelihood on the fitted and held-out episodes (and per held-out episode), (`random_ll` is the uniform policy's, per
    step), L-BFGS iterations, whether it converged, and the wall time."""

    feature_names: tuple[str, ...]
    theta: np.ndarray
    state_reward: np.ndarray
    reward: np.ndarray
    train_ll: float
    heldout_ll: float
    heldout_episode_ll: np.ndarray  # float64[episode number]: each held-out episode's log lik.
    random_ll: float
    n_train_steps: int
    n_heldout_steps: int
    iterations: int
    converged: bool
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.feature_names, map(float, self.theta)))


def _sources(lay: _Layout, mdp: TabularMDP, demos: Demos, gamma: float):
    """`_steps` of the signed sources of `source_visits`."""
    after = mdp.next[demos.state, demos.action]
    goes_on = ~mdp.terminal[demos.state, demos.action] & (demos.time + 1 < lay.horizon)
    src_t = np.concatenate([demos.time, demos.time[goes_on] + 1])
    src_s = np.concatenate([demos.state, after[goes_on]])
    src_w = np.concatenate([-np.ones(demos.n_steps), np.full(int(goes_on.sum()), gamma)])
    return _steps(lay, src_t, src_s, src_w)


def source_visits(
    mdp: TabularMDP, log_pi: np.ndarray, demos: Demos, gamma: float | None = None
) -> np.ndarray:
    """float64[S, A]: the discounted (s, a) visits of a forward pass that follows `log_pi` from
    signed sources: -1 at every demo step's (time, state), +gamma at the state it leads to one
    step later (if the step did not end the episode). Its features plus the demos' empirical
    feature counts are the exact gradient of the demos' log likelihood (module docstring)."""
    gamma = DISCOUNT if gamma is None else float(gamma)
    lay = _layout(mdp, len(log_pi))
    return _forward(lay, _exp_of(log_pi), gamma, _sources(lay, mdp, demos, gamma)).T


def episode_log_likelihood(log_pi: np.ndarray, demos: Demos) -> np.ndarray:
    """float64[episodes]: each demonstrated episode's summed log pi_t(a_t | s_t), indexed by
    episode number (episodes not in `demos` are 0)."""
    ll = log_pi[demos.time, demos.state, demos.action].astype(np.float64)
    return np.bincount(demos.episode, weights=ll, minlength=int(demos.episode.max()) + 1)


def _irl_objective(mdp, demos, features, per_state, l2, l2_state, gamma):
    """(params) -> (negative mean log likelihood + penalty, gradient). Soft value iteration and
    the forward pass run on the demos' layout: only the levels they visit, only the states an
    episode can occupy at each time."""
    gamma = DISCOUNT if gamma is None else float(gamma)
    f = features.shape[-1]
    emp_f = demos.feature_counts(features)
    emp_s = np.bincount(demos.state, minlength=mdp.n_states).astype(np.float64)
    n = demos.n_steps
    lay = _layout(mdp, mdp.horizon, demos.time, demos.state)
    feats = lay.gather(features)  # [F, A, n]
    flat = feats.reshape(f, -1)
    pi = _pi_buffers(lay)
    lp = np.empty(n)
    # Products go through np.einsum, not BLAS (@, tensordot): a multithreaded OpenBLAS takes
    # ~10 ms for these matrix-vector products on a busy machine, einsum ~1 ms.
    steps = _steps(lay, demos.time, demos.state, demos.action)
    sources = _sources(lay, mdp, demos, gamma)

    def fun(params):
        theta, w = params[:f], params[f:]
        reward = np.einsum("f,fan->an", theta, feats)
        if per_state:
            reward += w[lay.order]
        _backward(lay, reward, gamma, pi=pi, demo=(*steps, lp))
        visits = _forward(lay, pi.__getitem__, gamma, sources)  # [A, n]
        grad_theta = emp_f + np.einsum("fk,k->f", flat, visits.ravel())
        loss = -float(lp.sum()) / n + 0.5 * l2 * theta @ theta
        grad = [-grad_theta / n + l2 * theta]
        if per_state:
            loss += 0.5 * l2_state * np.einsum("i,i->", w, w)
            per = np.zeros(mdp.n_states)
            per[lay.order] = visits.sum(0)
            grad.append(-(emp_s + per) / n + l2_state * w)
        fun.last = (params.copy(), lp.copy())
        return loss, np.concatenate(grad)

    return fun


def _demo_log_probs(mdp, reward, gamma, *sets: Demos) -> list[np.ndarray]:
    """float64[n] per demo set: log pi_t(a | s) of each step under the Boltzmann-rational
    policy of `reward` (what `log_likelihood` reads off `soft_value_iteration`)."""
    gamma = DISCOUNT if gamma is None else float(gamma)
    if not sets:
        return []
    time_ = np.concatenate([d.time for d in sets])
    state = np.concatenate([d.state for d in sets])
    action = np.concatenate([d.action for d in sets])
    lay = _layout(mdp, mdp.horizon, time_, state)
    lp = np.empty(len(state))
    _backward(lay, lay.gather(reward), gamma, demo=(*_steps(lay, time_, state, action), lp))
    return np.split(lp, np.cumsum([d.n_steps for d in sets])[:-1])


@one_blas_thread()
def mce_irl(
    mdp: TabularMDP,
    demos: Demos,
    feature_names: tuple[str, ...] | list[str] | None = None,
    *,
    per_state: bool = False,
    heldout: Demos | None = None,
    l2: float = 1e-5,
    l2_state: float = 1e-2,
    max_iter: int = 200,
    tol: float = 1e-7,
    features: np.ndarray | None = None,
    gamma: float | None = None,
    nonnegative: tuple[int, ...] = (),
    init: np.ndarray | None = None,
) -> IRLResult:
    """Maximum causal entropy IRL: the reward r(s, a) = features(s, a) . theta (+ a per-state
    reward w[s] if `per_state`) whose Boltzmann-rational policy (beta = 1: the scale of theta is
    the agent's rationality) maximizes the demos' log likelihood, with a small L2 penalty that
    keeps unidentified directions at 0. The log likelihood is concave in the parameters; L-BFGS
    runs until the gradient's largest entry is below `tol`. `heldout` demos (e.g. other
    episodes) give the out-of-sample fit. `features` float[S, A, F] replaces the table's named
    features (then `feature_names` names its columns). `gamma`: the agent's discount
    (default DISCOUNT). `nonnegative`: indices of features whose weight is kept >= 0 (a goal
    that is pursued, not avoided). `init`: starting feature weights (default 0; a nested model
    starts from the smaller model's fit)."""
    t0 = time.perf_counter()
    if features is None:
        names = tuple(mdp.feature_names if feature_names is None else feature_names)
        features = mdp.features(names)
    else:
        names = tuple(feature_names or (f"f{i}" for i in range(features.shape[-1])))
    fun = _irl_objective(mdp, demos, features, per_state, l2, l2_state, gamma)
    x0 = np.zeros(len(names) + (mdp.n_states if per_state else 0))
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
    theta = res.x[: len(names)]
    state_reward = res.x[len(names) :] if per_state else np.zeros(mdp.n_states)
    reward = np.einsum("saf,f->sa", features, theta) + state_reward[:, None]
    held = heldout if heldout is not None and heldout.n_steps else None
    if np.array_equal(getattr(fun, "last", (None,))[0], res.x):  # L-BFGS ends where it looked
        lp = [fun.last[1], *_demo_log_probs(mdp, reward, gamma, *([held] if held else []))]
    else:
        lp = _demo_log_probs(mdp, reward, gamma, demos, *([held] if held else []))
    heldout_ll, heldout_episodes = float("nan"), np.zeros(0)
    if held is not None:
        last = int(held.episode.max()) + 1
        heldout_episodes = np.bincount(held.episode, weights=lp[1], minlength=last)
        heldout_ll = float(heldout_episodes.sum()) / held.n_steps
    return IRLResult(
        feature_names=names,
        theta=theta,
        state_reward=state_reward,
        reward=reward,
        train_ll=float(lp[0].sum()) / demos.n_steps,
        heldout_ll=heldout_ll,
        heldout_episode_ll=heldout_episodes,
        random_ll=-float(np.log(mdp.n_actions)),
        n_train_steps=demos.n_steps,
        n_heldout_steps=0 if heldout is None else heldout.n_steps,
        iterations=int(res.nit),
        converged=bool(res.success),
        seconds=time.perf_counter() - t0,
    )


def split_episodes(demos: Demos, heldout_every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held-out) episode numbers: every `heldout_every`-th episode is held out."""
    episodes = np.unique(demos.episode)
    held = episodes[episodes % heldout_every == heldout_every - 1]
    return np.setdiff1d(episodes, held), held
