"""EPIC-style distance between reward functions on a `mesaworld.envs.tabular.TabularMDP`.

EPIC (Gleave et al. 2021, "Quantifying Differences in Reward Functions") maps each reward to a
canonical representative of its potential-shaping class, then measures how far apart the
canonical rewards point. The distance is 0 exactly when two rewards differ only by potential
shaping and a positive scale, at most 1, symmetric, and obeys the triangle inequality.

What distance 0 does *not* promise here: the same optimal policies. Shaping preserves optimal
policies of infinite-horizon discounted MDPs; these tables have a finite horizon and states
without a clock, and there a shaped reward can change the optimal finite-horizon behaviour (on
lava, EPIC(base, base + shaping) = 1e-9 while the shaped reward's finite-horizon optimal policy
earns a base score of -0.13 instead of 0.92). That is one reason EPIC is the secondary measure:
the reward-result gap is read from returns (`mesaworld.analysis.gap`).

Two choices differ from EPIC as published, both because these tasks have terminal steps:

* Canonicalization is the weighted L2 projection that removes shaping (STARC's "minimal"
  canonicalization, Skalse et al. 2023): c(R) = R - (gamma * Phi(s') - Phi(s)), Phi fitted by
  least squares over the MDP's own transitions, Phi = 0 after a terminal step. EPIC's sampled
  canonicalization evaluates R(s, a, s') on arbitrary pairs (s, s'), and these rewards exist
  only on the table's transitions.
* The canonical rewards are compared by the distance of their unit vectors,
  ||c1/|c1| - c2/|c2||| / 2, where EPIC uses the Pearson distance sqrt((1 - rho) / 2), which is
  the same formula after subtracting each reward's mean. Subtracting the mean treats a constant
  per-step reward as irrelevant; in an episodic task it is not (a living cost makes an agent end
  episodes, a bonus makes it linger; with terminal steps a living cost is equivalent to an end
  bonus), and with it a reward paid only on terminal steps, like the coin task's `end`, would be
  indistinguishable from no reward at all. Where a constant *is*
  irrelevant (no terminal steps, gamma < 1), it is shaping and the projection removes it anyway.
  `pearson=True` gives the published final step.

gamma defaults to DISCOUNT (0.99, `mesaworld.analysis.irl`), the one discount of every analysis: the
equivalence classes are those of the objective the agents actually optimize.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as splinalg

from mesaworld.analysis.irl import DISCOUNT
from mesaworld.envs.tabular import TabularMDP

GAMMA = DISCOUNT


def shaping_basis(mdp: TabularMDP, gamma: float = GAMMA) -> sparse.csr_matrix:
    """[S*A, S]: column s is the shaping gamma * 1[s' = s] - 1[s_t = s] of potential 1 on state
    s (no s' term after a terminal step: the potential of the absorbing state is 0)."""
    s, a = mdp.next.shape
    rows = np.arange(s * a)
    live = ~mdp.terminal.ravel()
    data = np.concatenate([-np.ones(s * a), np.full(int(live.sum()), gamma)])
    r = np.concatenate([rows, rows[live]])
    c = np.concatenate([np.repeat(np.arange(s), a), mdp.next.ravel()[live]])
    return sparse.csr_matrix((data, (r, c)), shape=(s * a, s))


def _weights(mdp: TabularMDP, weights) -> np.ndarray:
    n = mdp.next.size
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64).ravel()
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be a non-negative float{list(mdp.next.shape)}, not all 0")
    return w / w.sum()


def canonicalize(
    mdp: TabularMDP, rewards: np.ndarray, gamma: float = GAMMA, weights: np.ndarray | None = None
) -> np.ndarray:
    """float64[n, S, A] (or [S, A] for one reward): each reward minus its weighted least-squares
    fit by potential shaping. `weights` float[S, A] is the coverage distribution (default:
    uniform over the table's steps). One sparse factorization serves all n rewards."""
    rewards = np.asarray(rewards, np.float64)
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    single = rewards.ndim == 2
    if rewards.shape[-2:] != mdp.next.shape:
        raise ValueError(f"rewards must be float[..., {mdp.n_states}, {mdp.n_actions}]")
    r = rewards.reshape(-1, mdp.next.size).T  # [S*A, n]
    w = _weights(mdp, weights)
    basis = shaping_basis(mdp, gamma)
    wb = sparse.diags(w) @ basis
    normal = (basis.T @ wb).tocsc()
    # gamma = 1 without terminal steps leaves a constant potential invisible; a tiny ridge keeps
    # the factorization defined and changes the fitted shaping by ~1e-10.
    ridge = 1e-10 * max(float(normal.diagonal().max()), 1e-300)
    normal = normal + ridge * sparse.identity(normal.shape[0], format="csc")
    coef = splinalg.splu(normal).solve(np.asarray(wb.T @ r))
    out = (r - basis @ coef).T.reshape(-1, *mdp.next.shape)
    return out[0] if single else out


def direction_distance(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    pearson: bool = False,
    refs: tuple[float, float] | None = None,
) -> float:
    """||x/|x| - y/|y||| / 2 in the weighted L2 norm, in [0, 1] (with `pearson`, after
    subtracting each array's weighted mean: then it equals sqrt((1 - rho) / 2)). A zero array
    has no direction: it is at 0 from another zero array and at 1/2 from everything else (the
    origin's distance to the unit sphere, halved), so the triangle inequality still holds.
    "Zero" is relative to `refs`, the scales of the arrays before canonicalization (default:
    the arrays' own largest entries)."""
    x, y = np.ravel(x).astype(np.float64), np.ravel(y).astype(np.float64)
    w = np.full(x.shape, 1.0 / x.size) if weights is None else np.ravel(weights) / np.sum(weights)
    if refs is None:
        refs = (np.abs(x).max(initial=0.0), np.abs(y).max(initial=0.0))
    if pearson:
        x, y = x - _dot(w, x), y - _dot(w, y)
    nx, ny = np.sqrt(_dot(w, x * x)), np.sqrt(_dot(w, y * y))
    zero_x, zero_y = nx <= 1e-8 * refs[0] or nx == 0, ny <= 1e-8 * refs[1] or ny == 0
    if zero_x or zero_y:
        return 0.0 if zero_x and zero_y else 0.5
    diff = x / nx - y / ny
    return float(min(np.sqrt(_dot(w, diff * diff)) / 2.0, 1.0))


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    """x . y without BLAS (a multithreaded OpenBLAS dot is ~30x slower on a busy machine)."""
    return float(np.einsum("i,i->", x, y))


def epic_distance(
    mdp: TabularMDP,
    r1: np.ndarray,
    r2: np.ndarray,
    gamma: float = GAMMA,
    weights: np.ndarray | None = None,
    pearson: bool = False,
) -> float:
    """Distance in [0, 1] between two rewards float[S, A] on the MDP's transitions: 0 iff they
    are equal up to potential shaping and a positive scale."""
    c = canonicalize(mdp, np.stack([r1, r2]), gamma, weights)
    refs = (float(np.abs(r1).max(initial=0.0)), float(np.abs(r2).max(initial=0.0)))
    return direction_distance(c[0], c[1], weights, pearson, refs)


def epic_matrix(
    mdp: TabularMDP,
    rewards: dict[str, np.ndarray],
    gamma: float = GAMMA,
    weights: np.ndarray | None = None,
    pearson: bool = False,
) -> dict[tuple[str, str], float]:
    """The distance between every pair of named rewards (one canonicalization for all)."""
    names = list(rewards)
    c = canonicalize(mdp, np.stack([rewards[n] for n in names]), gamma, weights)
    ref = [float(np.abs(rewards[n]).max(initial=0.0)) for n in names]
    return {
        (a, b): direction_distance(c[i], c[j], weights, pearson, (ref[i], ref[j]))
        for i, a in enumerate(names)
        for j, b in enumerate(names)
    }
