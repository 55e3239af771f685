"""Boltzmann-rational policies, maximum causal entropy IRL and objective attribution on a
`envs.tabular.TabularMDP`.

Everything is finite-horizon and undiscounted, like the episodes: the policy at time t depends on
the steps left, `horizon - t`, and a terminal step leads to an absorbing state that pays nothing
until the horizon. Shapes: S states, A actions, T horizon, F features.

    soft_value_iteration(mdp, reward, beta)     log pi_t(a|s) for the Boltzmann-rational policy
    Demos.from_actions(mdp, episodes)           trajectories as (time, state, action) steps
    log_likelihood(log_pi, demos)               sum of log pi_t(a_t | s_t)
    mce_irl(mdp, demos, features)               the linear reward that best explains the demos
    attribution(mdp, demos, candidates)         how well each candidate goal explains them

Ziebart et al. (2010) for maximum causal entropy; the gradient of the demonstrations' log
likelihood is (empirical - expected) feature counts, exact here because the dynamics are known.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from envs.tabular import TabularMDP


def _logsumexp(q: np.ndarray) -> np.ndarray:
    top = q.max(1)
    return top + np.log(np.exp(q - top[:, None]).sum(1))


def soft_value_iteration(
    mdp: TabularMDP,
    reward: np.ndarray,
    beta: float = 1.0,
    horizon: int | None = None,
    dtype: type = np.float64,
    gamma: float = 1.0,
) -> np.ndarray:
    """dtype[T, S, A] (float64 unless asked; float32 halves the memory): log pi_t(a | s) of the Boltzmann-rational (soft-optimal) policy for
    float[S, A] `reward` at inverse temperature `beta`: Q_t = beta * r + V_{t+1}(next) (0 after a
    terminal step), V_t = logsumexp_a Q_t, pi_t = exp(Q_t - V_t). beta = 0 is uniform random;
    large beta approaches the optimal policy, ties split evenly. `gamma` < 1 discounts within
    the horizon (Q_t = beta * r + gamma * V_{t+1}): the model of an agent trained with that
    discount, which prefers reaching a goal sooner even when the return does not."""
    t_max = mdp.horizon if horizon is None else int(horizon)
    r = beta * np.asarray(reward, np.float64)
    live = ~mdp.terminal
    log_pi = np.empty((t_max, *mdp.next.shape), dtype)
    value = np.zeros(mdp.n_states)
    log_a = float(np.log(mdp.n_actions))
    for t in range(t_max - 1, -1, -1):
        # After a terminal step the episode sits in an absorbing state where every action pays
        # 0 until the horizon: its soft value is the entropy of the steps left. (Valuing it 0
        # instead would make a Boltzmann agent avoid ending episodes, just to keep choosing.)
        left = t_max - t - 1  # steps after this one
        absorbing = log_a * (left if gamma == 1.0 else (1.0 - gamma**left) / (1.0 - gamma))
        q = r + gamma * np.where(live, value[mdp.next], absorbing)
        value = _logsumexp(q)
        log_pi[t] = q - value[:, None]
    return log_pi


def state_visits(mdp: TabularMDP, log_pi: np.ndarray, start: np.ndarray) -> np.ndarray:
    """float64[T, S, A]: expected number of times each (s, a) is taken at each time, following
    `log_pi` from float[S] `start` counts (e.g. one per demonstrated episode)."""
    t_max = len(log_pi)
    live = ~mdp.terminal
    d = np.asarray(start, np.float64)
    visits = np.empty((t_max, *mdp.next.shape))
    for t in range(t_max):
        visits[t] = d[:, None] * np.exp(log_pi[t])
        flow = np.where(live, visits[t], 0.0)
        d = np.bincount(mdp.next.ravel(), weights=flow.ravel(), minlength=mdp.n_states)
    return visits


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
    likelihood on the fitted and held-out episodes (`random_ll` is the uniform policy's, per
    step), L-BFGS iterations, whether it converged, and the wall time."""

    feature_names: tuple[str, ...]
    theta: np.ndarray
    state_reward: np.ndarray
    reward: np.ndarray
    train_ll: float
    heldout_ll: float
    random_ll: float
    n_train_steps: int
    n_heldout_steps: int
    iterations: int
    converged: bool
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.feature_names, map(float, self.theta)))


def _irl_objective(mdp, demos, features, per_state, l2, l2_state):
    """(params) -> (negative mean log likelihood + penalty, gradient)."""
    f = features.shape[-1]
    emp_f = demos.feature_counts(features)
    emp_s = np.bincount(demos.state, minlength=mdp.n_states).astype(np.float64)
    n = demos.n_steps

    def fun(params):
        theta, w = params[:f], params[f:]
        reward = features @ theta
        if per_state:
            reward = reward + w[:, None]
        log_pi = soft_value_iteration(mdp, reward)
        ll = log_likelihood(log_pi, demos)
        visits = state_visits(mdp, log_pi, demos.starts).sum(0)  # [S, A]
        grad_theta = emp_f - np.einsum("sa,saf->f", visits, features)
        loss = -ll / n + 0.5 * l2 * theta @ theta
        grad = [-grad_theta / n + l2 * theta]
        if per_state:
            loss += 0.5 * l2_state * w @ w
            grad.append(-(emp_s - visits.sum(1)) / n + l2_state * w)
        return loss, np.concatenate(grad)

    return fun


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
) -> IRLResult:
    """Maximum causal entropy IRL: the reward r(s, a) = features(s, a) . theta (+ a per-state
    reward w[s] if `per_state`) whose Boltzmann-rational policy (beta = 1: the scale of theta is
    the agent's rationality) maximizes the demos' log likelihood, with a small L2 penalty that
    keeps unidentified directions at 0. The log likelihood is concave in the parameters; L-BFGS
    runs until the gradient's largest entry is below `tol`. `heldout` demos (e.g. other
    episodes) give the out-of-sample fit."""
    t0 = time.perf_counter()
    names = tuple(mdp.feature_names if feature_names is None else feature_names)
    features = mdp.features(names)
    fun = _irl_objective(mdp, demos, features, per_state, l2, l2_state)
    x0 = np.zeros(len(names) + (mdp.n_states if per_state else 0))
    res = optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12},
    )
    theta = res.x[: len(names)]
    state_reward = res.x[len(names) :] if per_state else np.zeros(mdp.n_states)
    reward = features @ theta + state_reward[:, None]
    log_pi = soft_value_iteration(mdp, reward)
    heldout_ll = float("nan")
    if heldout is not None and heldout.n_steps:
        heldout_ll = log_likelihood(log_pi, heldout) / heldout.n_steps
    return IRLResult(
        feature_names=names,
        theta=theta,
        state_reward=state_reward,
        reward=reward,
        train_ll=log_likelihood(log_pi, demos) / demos.n_steps,
        heldout_ll=heldout_ll,
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


# --- objective attribution -------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    """How well one candidate objective explains the demos, on its *decision steps*: the
    demonstrated steps where, with the time left, the objective's optimal values differ between
    actions (after the coin is taken, the coin objective has no preference, and no action there
    is evidence for or against it). `coverage` is their share of all steps, `beta` the inverse
    temperature (per standard deviation of the objective over steps) that maximizes their
    likelihood, `ll_per_step` that likelihood per decision step and `pseudo_r2` McFadden's
    1 - LL / LL_random on them (0: no better than random actions; 1: every action predicted)."""

    objective: str
    beta: float
    ll_per_step: float
    pseudo_r2: float
    coverage: float


BETA_MAX = 1000.0
# Candidate goals are modelled as pursued by an agent with the discount every agent here trains
# with (TrainConfig.gamma): undiscounted, "reach the cheese" has no preference for reaching it
# soon, and a planner's shortest path would be no evidence for it.
AGENT_GAMMA = 0.99
MIN_COVERAGE = 0.05  # fewer decision steps than this share: too little evidence to rank a goal


def decision_steps(
    mdp: TabularMDP, reward: np.ndarray, demos: Demos, gamma: float = AGENT_GAMMA
) -> np.ndarray:
    """bool[n]: the demos' steps where some action is optimal and another is not for `reward`
    (exact finite-horizon Q values with the steps left, discounted by `gamma`)."""
    reward = np.asarray(reward, np.float64)
    scale = max(float(np.abs(reward).max()), 1e-300)
    value = np.zeros(mdp.n_states)
    gaps = np.empty((mdp.horizon, mdp.n_states))
    for t in range(mdp.horizon - 1, -1, -1):
        q = reward + gamma * np.where(mdp.terminal, 0.0, value[mdp.next])
        value = q.max(1)
        gaps[t] = value - q.min(1)
    return gaps[demos.time, demos.state] > 1e-9 * scale


def attribution(
    mdp: TabularMDP,
    demos: Demos,
    candidates: dict[str, np.ndarray],
    gamma: float = AGENT_GAMMA,
) -> list[Attribution]:
    """For each candidate reward float[S, A], the Boltzmann-rational policy that best explains
    the demos' decision steps for it (one free parameter each: the inverse temperature, in
    [0, BETA_MAX] per standard deviation of the reward). Sorted best first: by pseudo-R^2 among
    candidates with at least MIN_COVERAGE of the steps, then the rest."""
    out = []
    for name, reward in candidates.items():
        reward = np.asarray(reward, np.float64)
        scale = reward.std()
        unit = reward / scale if scale > 0 else reward
        mask = decision_steps(mdp, reward, demos, gamma)
        n = int(mask.sum())
        if n == 0:
            out.append(Attribution(name, 0.0, float("nan"), 0.0, 0.0))
            continue
        t, s, a = demos.time[mask], demos.state[mask], demos.action[mask]

        def neg_ll(beta, unit=unit, t=t, s=s, a=a):
            log_pi = soft_value_iteration(mdp, unit, beta, gamma=gamma)
            return -float(log_pi[t, s, a].sum())

        res = optimize.minimize_scalar(
            neg_ll, bounds=(0.0, BETA_MAX), method="bounded", options={"xatol": 1e-3}
        )
        beta, ll = float(res.x), -float(res.fun)
        null = -n * float(np.log(mdp.n_actions))
        if null > ll:  # the bounded search can miss an optimum at the edge: beta = 0 is random
            beta, ll = 0.0, null
        out.append(Attribution(name, beta, ll / n, 1.0 - ll / null, n / demos.n_steps))
    return sorted(out, key=lambda x: (x.coverage < MIN_COVERAGE, -x.pseudo_r2))
