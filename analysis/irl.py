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

import ctypes
import functools
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from mesaworld.envs.tabular import TabularMDP

DISCOUNT = 0.99


@contextmanager
def one_blas_thread():
    """The block runs with one OpenBLAS thread (numpy's and scipy's bundled OpenBLAS, found among
    the loaded libraries on Linux; elsewhere nothing changes). L-BFGS-B's tiny BLAS calls wake
    OpenBLAS's worker threads, which then spin and take the CPU from the solver: on a 2-core
    machine a Roomba run's analysis took ~25% longer. The numbers are the same."""
    libs = _openblas()
    before = [get() for get, _ in libs]
    for _, set_threads in libs:
        set_threads(1)
    try:
        yield
    finally:
        for (_, set_threads), n in zip(libs, before):
            set_threads(n)


@functools.cache
def _openblas() -> list:
    """(get, set) number-of-threads functions of every OpenBLAS loaded in this process."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower()})
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_", ""), ("scipy_", "64_"), ("", "")):
            get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype, put.argtypes, put.restype = ctypes.c_int, [ctypes.c_int], None
                found.append((get, put))
                break
    return found


# --- the solver ---------------------------------------------------------------------------------
# Every pass works on a `_Layout` of the table: states sorted by the first time an episode can
# occupy them (an episode that starts at a level's start is at most t steps deep at time t), and
# arrays action-first ([A, n]) so that the log-sum-exp over actions runs over contiguous rows.
# At time t only the first active[t] states are computed: the others cannot be occupied yet, and
# levels no source reaches are left out entirely (an IRL fit on half the episodes only solves
# their levels). Values at the states that are kept are the same numbers as on the whole table.


@dataclass(frozen=True)
class _Layout:
    """order int64[n]: the kept states (original indices) by first occupancy time; nxt intp[A, n]:
    1 + the successor's position (0: after a terminal step, the absorbing state, or past the
    horizon); active int64[T + 1]: states occupiable at time t (a prefix of `order`)."""

    order: np.ndarray
    position: np.ndarray  # int64[S]: each state's place in `order`, -1 if left out
    nxt: np.ndarray
    active: np.ndarray

    @property
    def horizon(self) -> int:
        return len(self.active) - 1

    def gather(self, x: np.ndarray) -> np.ndarray:
        """float[S, A, ...] -> contiguous float[..., A, n] on the kept states."""
        return np.ascontiguousarray(np.moveaxis(np.asarray(x)[self.order], (0, 1), (-1, -2)))


def _layout(mdp: TabularMDP, horizon: int, times=None, states=None) -> _Layout:
    """The layout for episodes that occupy `states` at `times` (and whatever follows); every
    state at every time when `states` is None."""
    n_states = mdp.n_states
    entry = np.zeros(n_states, np.int64)
    if states is not None:
        entry[:] = horizon  # never occupied before the horizon
        times, states = np.asarray(times, np.int64), np.asarray(states, np.int64)
        ok = (times >= 0) & (times < horizon)
        by_time = np.argsort(times[ok], kind="stable")
        src_s = states[ok][by_time]
        bounds = np.searchsorted(times[ok][by_time], np.arange(horizon + 1))
        succ = np.where(mdp.terminal, -1, mdp.next)
        reached, slot = np.zeros(0, np.int64), np.empty(n_states, np.int64)
        for t in range(horizon):  # breadth-first, sources joining at their own times
            new = np.concatenate([reached, src_s[bounds[t] : bounds[t + 1]]])
            new = new[entry[new] > t]
            slot[new] = np.arange(len(new))
            new = new[slot[new] == np.arange(len(new))]  # each state once
            entry[new] = t
            reached = succ[new].ravel()
            reached = reached[reached >= 0]
    kept = np.flatnonzero(entry < horizon)
    order = kept[np.argsort(entry[kept], kind="stable")]
    position = np.full(n_states, -1, np.int64)
    position[order] = np.arange(len(order))
    after = position[mdp.next[order]]
    # A successor left out is one first occupiable at the horizon: only read at t = T - 1,
    # where its value and the absorbing state's are both 0.
    nxt = np.where(mdp.terminal[order] | (after < 0), 0, after + 1).T.astype(np.intp)
    active = np.searchsorted(entry[order], np.arange(horizon + 1), side="right")
    return _Layout(order, position, np.ascontiguousarray(nxt), active)


def _absorbing(n_actions: int, left: int, gamma: float) -> float:
    """The soft value of the absorbing state with `left` steps to go: every action pays 0, so it
    is the (discounted) entropy of the steps left. (Valuing it 0 instead would make a
    Boltzmann agent avoid ending episodes, just to keep choosing.)"""
    log_a = float(np.log(n_actions))
    return log_a * (left if gamma == 1.0 else (1.0 - gamma**left) / (1.0 - gamma))


def _backward(lay: _Layout, r: np.ndarray, gamma: float, pi=None, log_pi=None, demo=None):
    """Soft value iteration on the layout for float64[A, n] `r` (beta included): Q_t = r +
    gamma * V_{t+1}(next), V_t = logsumexp_a Q_t. Writes pi_t = exp(Q_t - V_t) into pi[t]
    (float64[A, active[t]]) and/or log pi_t into log_pi[t] (any [A, n]-shaped view), and each
    demo step's log pi_t(a | s) into demo[3] at demo[2] (`_steps`)."""
    n_actions, n = lay.nxt.shape
    later = np.zeros(n + 1)  # gamma * V_{t+1}: [0] of the absorbing state, [1 + i] of state i
    work, top_work = np.empty((2, n_actions * n)), np.empty(n)
    for t in range(lay.horizon - 1, -1, -1):
        m = lay.active[t]
        later[0] = gamma * _absorbing(n_actions, lay.horizon - t - 1, gamma)
        q, e = (w[: n_actions * m].reshape(n_actions, m) for w in work)
        for a in range(n_actions):  # row by row: faster than one 2-d take
            np.take(later, lay.nxt[a, :m], out=q[a], mode="clip")  # "clip": no range check
        q += r[:, :m]
        top = np.max(q, 0, out=top_work[:m])
        e = pi[t] if pi is not None else e
        np.exp(np.subtract(q, top, out=e), out=e)
        total = e.sum(0)
        value = np.log(total)
        value += top
        if pi is not None:
            e /= total
        if log_pi is not None:
            np.subtract(q, value, out=log_pi[t])
        if demo is not None:
            bounds, (s, a), where, out = demo
            part = slice(bounds[t], bounds[t + 1])
            out[where[part]] = q[a[part], s[part]] - value[s[part]]
        np.multiply(value, gamma, out=later[1 : m + 1])


def _steps(lay: _Layout, time: np.ndarray, state: np.ndarray, *extra):
    """(bounds per time, (positions, *extra) sorted by time, the original order's indices)."""
    order = np.argsort(time, kind="stable")
    bounds = np.searchsorted(time[order], np.arange(lay.horizon + 1))
    return bounds, (lay.position[state[order]], *(x[order] for x in extra)), order


def _forward(lay: _Layout, pi, gamma: float, sources, per_time=None) -> np.ndarray:
    """float64[A, n]: the (discounted by `gamma`) visits of a forward pass that follows pi(t)
    (float[A, active[t] or more]) from `sources` (`_steps` of times, states and float weights)
    and writes each time's visits into per_time[t] when given."""
    n_actions, n = lay.nxt.shape
    bounds, (src_s, src_w), _ = sources
    d = np.zeros(n)
    total = np.zeros((n_actions, n))
    for t in range(lay.horizon):
        m = lay.active[t]
        part = slice(bounds[t], bounds[t + 1])
        if part.stop > part.start:
            d[:m] += np.bincount(src_s[part], weights=src_w[part], minlength=m)
        step = pi(t)[:, :m] * d[:m]
        total[:, :m] += step
        if per_time is not None:
            per_time[t][:, :m] = step
        if t + 1 < lay.horizon:
            m_next = lay.active[t + 1]
            flow = np.bincount(lay.nxt[:, :m].ravel(), step.ravel(), minlength=m_next + 1)
            d[:m_next] = flow[1:] if gamma == 1.0 else gamma * flow[1:]  # [0]: episodes ended
    return total


def _pi_buffers(lay: _Layout) -> list[np.ndarray]:
    """One float64[A, active[t]] array per time, in one allocation."""
    n_actions = lay.nxt.shape[0]
    buf = np.empty(int(lay.active[:-1].sum()) * n_actions)
    ends = np.cumsum(lay.active[:-1] * n_actions)
    return [
        buf[end - m * n_actions : end].reshape(n_actions, m)
        for end, m in zip(ends, lay.active[:-1])
    ]


def soft_value_iteration(
    mdp: TabularMDP,
    reward: np.ndarray,
    beta: float = 1.0,
    horizon: int | None = None,
    dtype: type = np.float64,
    gamma: float | None = None,
) -> np.ndarray:
    """dtype[T, S, A] (float64 unless asked; float32 halves the memory): log pi_t(a | s) of the Boltzmann-rational (soft-optimal) policy for
    float[S, A] `reward` at inverse temperature `beta`: Q_t = beta * r + V_{t+1}(next) (0 after a
    terminal step), V_t = logsumexp_a Q_t, pi_t = exp(Q_t - V_t). beta = 0 is uniform random;
    large beta approaches the optimal policy, ties split evenly. `gamma` < 1 discounts within
    the horizon (Q_t = beta * r + gamma * V_{t+1}): the model of an agent trained with that
    discount, which prefers reaching a goal sooner even when the return does not (default
    DISCOUNT). After a terminal step the episode sits in an absorbing state whose soft value
    is the entropy of the steps left (`_absorbing`)."""
    gamma = DISCOUNT if gamma is None else float(gamma)
    t_max = mdp.horizon if horizon is None else int(horizon)
    lay = _layout(mdp, t_max)
    log_pi = np.empty((t_max, *mdp.next.shape), dtype)
    r = beta * np.asarray(reward, np.float64)
    _backward(lay, r.T, gamma, log_pi=log_pi.transpose(0, 2, 1))
    return log_pi


def state_visits(mdp: TabularMDP, log_pi: np.ndarray, start: np.ndarray) -> np.ndarray:
    """float64[T, S, A]: expected number of times each (s, a) is taken at each time, following
    `log_pi` from float[S] `start` counts (e.g. one per demonstrated episode)."""
    lay = _layout(mdp, len(log_pi))
    start = np.asarray(start, np.float64)
    src = _steps(lay, np.zeros(mdp.n_states, np.int64), np.arange(mdp.n_states), start)
    visits = np.empty((len(log_pi), *mdp.next.shape))
    _forward(lay, _exp_of(log_pi), 1.0, src, per_time=visits.transpose(0, 2, 1))
    return visits


def _exp_of(log_pi: np.ndarray):
    """t -> pi_t = exp(log_pi[t]) as float[A, S], computed when asked."""
    return lambda t: np.exp(log_pi[t]).T


def policy_visits(
    mdp: TabularMDP,
    reward: np.ndarray,
    beta: float,
    start: np.ndarray,
    gamma: float | None = None,
) -> np.ndarray:
    """float64[S, A]: the expected visits, summed over time, of the Boltzmann-rational policy of
    `reward` at `beta` from float[S] `start` counts: state_visits(mdp, soft_value_iteration(mdp,
    reward, beta, gamma=gamma), start).sum(0), solved only where the starts lead."""
    gamma = DISCOUNT if gamma is None else float(gamma)
    start = np.asarray(start, np.float64)
    where = np.flatnonzero(start)
    lay = _layout(mdp, mdp.horizon, np.zeros(len(where), np.int64), where)
    pi = _pi_buffers(lay)
    _backward(lay, lay.gather(beta * np.asarray(reward, np.float64)), gamma, pi=pi)
    src = _steps(lay, np.zeros(len(where), np.int64), where, start[where])
    out = np.zeros(mdp.next.shape)
    out[lay.order] = _forward(lay, pi.__getitem__, 1.0, src).T
    return out


def optimal_return(mdp: TabularMDP, reward: np.ndarray, start: np.ndarray) -> float:
    """The optimal undiscounted return of float[S, A] `reward` from float[S] `start` counts:
    `mesaworld.envs.tabular.optimal_values(mdp, reward) @ start`, solved only where the starts
    lead."""
    start = np.asarray(start, np.float64)
    where = np.flatnonzero(start)
    lay = _layout(mdp, mdp.horizon, np.zeros(len(where), np.int64), where)
    r = lay.gather(np.asarray(reward, np.float64))
    later = np.zeros(lay.nxt.shape[1] + 1)  # V_{t+1}; [0]: after a terminal step
    for t in range(lay.horizon - 1, -1, -1):
        m = lay.active[t]
        later[1 : m + 1] = (later[lay.nxt[:, :m]] + r[:, :m]).max(0)
    return float(np.einsum("i,i->", later[1:], start[lay.order]))  # einsum: no BLAS (below)


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
