"""Soft (Boltzmann-rational) value iteration on a `mesaworld.envs.tabular.TabularMDP`, fast: the
solver under inverse RL (`analysis.irl`, which re-exports it), the gap's policies and EPIC.

Finite-horizon like the episodes: the policy at time t depends on the steps left, and a terminal
step leads to an absorbing state that pays nothing until the horizon. One discount, DISCOUNT =
0.99, for every model of an agent in `analysis`. The arrays are action-first and hold only the
states an episode can occupy at each time (`_layout`), so each step of the recursion is a gather
and a log-sum-exp over those. Shapes: S states, A actions, T horizon.

    soft_value_iteration(mdp, reward, beta)   log pi_t(a|s) of the Boltzmann-rational policy
    state_visits(mdp, log_pi, start)          expected state visits per time
    policy_visits(mdp, reward, beta, start)   the same for the policy of a reward
    optimal_return(mdp, reward, start)        the optimal undiscounted return from the starts
    one_blas_thread()                         a context with OpenBLAS on one thread
"""

from __future__ import annotations

import ctypes
import functools
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

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
