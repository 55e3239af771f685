"""Adaptive identification (issue 25, item 2): which objective does an agent pursue?

Hypotheses are the task's objectives (base and each proxy), mixtures (1 - w) * base + w * proxy
on a grid, and "none" (capability failure: the uniform-random policy). For every hypothesis
and every pool level the likelihood model is the exact Boltzmann-rational policy from the
tabular export (`soft_value_iteration`) at each inverse temperature of a small grid; the
rationality is marginalized (uniform prior over the grid, one beta per hypothesis shared by all
episodes). The next level is the pool level with the largest expected information gain about
the hypotheses, estimated by Monte Carlo: episodes are drawn from the posterior predictive on
that level, and the gain is the prior entropy minus the mean posterior entropy (a documented
cheaper stand-in for the exact sum over all trajectories). Hypotheses whose policies are equal
on every reachable state of every pool level are reported as indistinguishable within the pool.

    hypotheses         names and float[S, A] rewards for one exported level
    PoolLevel          one level's exported MDP and its per-hypothesis log-policies
    build_pool         export levels and solve every hypothesis on each
    indistinguishable  groups of hypotheses no pool level tells apart
    identify           the loop: choose, play, update, stop at posterior >= 0.95 or budget
    planner_agent      a scripted planner pursuing one reward (epsilon noise optional)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from mesaworld.analysis.soft_vi import soft_value_iteration
from mesaworld.envs.tabular import ExportError, TabularMDP, export

BETAS = (1.0, 3.0, 10.0)
MIX_WEIGHTS = (0.25, 0.5, 0.75)
NONE = "none"


def hypotheses(mdp: TabularMDP) -> dict[str, np.ndarray | None]:
    """name -> float[S, A] reward (None for "none", the uniform-random policy)."""
    out: dict[str, np.ndarray | None] = {}
    base = mdp.rewards[0]
    out[mdp.objectives[0]] = base
    for k, name in enumerate(mdp.objectives[1:], start=1):
        out[name] = mdp.rewards[k]
        for w in MIX_WEIGHTS:
            out[f"mix({mdp.objectives[0]},{name},w={w})"] = (1 - w) * base + w * mdp.rewards[k]
    out[NONE] = None
    return out


@dataclass
class PoolLevel:
    """One pool level: `mdp` (one exported level), `codes` (uint8[H, W]), `log_pi`
    float[H, B, T, S, A] for hypothesis h at beta b, and a `name` for the output."""

    name: str
    codes: np.ndarray
    mdp: TabularMDP
    log_pi: np.ndarray
    names: list[str] = field(default_factory=list)


def solve_level(mdp: TabularMDP, betas=BETAS) -> tuple[list[str], np.ndarray]:
    hyps = hypotheses(mdp)
    T = mdp.horizon
    S, A = mdp.next.shape
    out = np.empty((len(hyps), len(betas), T, S, A), np.float32)
    for i, r in enumerate(hyps.values()):
        for j, b in enumerate(betas):
            if r is None:
                out[i, j] = -np.log(A)
            else:
                out[i, j] = soft_value_iteration(mdp, r, beta=b, dtype=np.float32)
    return list(hyps), out


def build_pool(
    task, codes: np.ndarray, names=None, betas=BETAS, horizon=None, max_states: int | None = None
) -> list[PoolLevel]:
    """Export each level of uint8[L, H, W] `codes` alone and solve every hypothesis on it.
    With `max_states`, a level with more reachable states is left out of the pool (its policy
    table would not fit: hypotheses x betas x horizon x states x 5 floats); if every level is
    left out, ValueError naming the smallest size."""
    codes = np.asarray(codes, np.uint8)
    if len(codes) == 0:
        raise ValueError("the level pool is empty")
    pool, smallest = [], None
    for i, c in enumerate(codes):
        try:
            mdp = export(task, c[None], horizon=horizon, max_states=max_states or 2_000_000)
        except ExportError:
            smallest = max_states
            continue
        hnames, lp = solve_level(mdp, betas)
        pool.append(PoolLevel(names[i] if names else f"level{i}", c, mdp, lp, hnames))
    if not pool:
        raise ValueError(
            f"{task.name}: every pool level has more than {smallest:,} reachable states "
            "(the cap on one level's policy table); no level left to identify on"
        )
    return pool


def _reachable(mdp: TabularMDP) -> np.ndarray:
    seen = np.zeros(mdp.n_states, bool)
    stack = list(mdp.start)
    seen[stack] = True
    while stack:
        s = stack.pop()
        for a in range(mdp.next.shape[1]):
            if mdp.terminal[s, a]:
                continue
            n = mdp.next[s, a]
            if not seen[n]:
                seen[n] = True
                stack.append(n)
    return seen


def indistinguishable(pool: list[PoolLevel], atol: float = 1e-6) -> list[list[str]]:
    """Groups (size >= 2) of hypotheses whose policies agree at every beta on every reachable
    state of every pool level: no episode in this pool can tell them apart."""
    names = pool[0].names
    n = len(names)
    same = np.ones((n, n), bool)
    for lv in pool:
        keep = _reachable(lv.mdp)
        p = np.exp(lv.log_pi[:, :, :, keep])
        flat = p.reshape(n, -1)
        for i in range(n):
            same[i] &= np.all(np.abs(flat - flat[i]) <= atol, axis=1)
    groups, done = [], set()
    for i in range(n):
        if i in done:
            continue
        g = [j for j in range(n) if same[i, j]]
        done.update(g)
        if len(g) > 1:
            groups.append([names[j] for j in g])
    return groups


def episode_loglik(lv: PoolLevel, steps: list[tuple[int, int, int]]) -> np.ndarray:
    """float[H, B]: log-likelihood of (t, state, action) steps under each hypothesis and beta."""
    if not steps:
        return np.zeros(lv.log_pi.shape[:2])
    t, s, a = (np.array(x) for x in zip(*steps, strict=True))
    return lv.log_pi[:, :, t, s, a].sum(-1)


def posterior(loglik: np.ndarray) -> np.ndarray:
    """float[H] from cumulative float[H, B] (uniform prior over hypotheses and betas)."""
    m = logsumexp(loglik, axis=1)
    return np.exp(m - logsumexp(m))


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def rollout(mdp: TabularMDP, act, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Play `act(t, s, rng) -> a` on the exported level from its start; (t, s, a) per step."""
    s = int(mdp.start[0])
    steps = []
    for t in range(mdp.horizon):
        a = int(act(t, s, rng))
        steps.append((t, s, a))
        if mdp.terminal[s, a]:
            break
        s = int(mdp.next[s, a])
    return steps


def expected_gain(lv: PoolLevel, loglik: np.ndarray, rng: np.random.Generator, n: int = 8) -> float:
    """Monte Carlo expected information gain (nats) about the hypotheses of one episode on
    `lv`: draw (hypothesis, beta) from the joint posterior, an episode from its policy, and
    average the entropy drop."""
    joint = np.exp(loglik - logsumexp(loglik)).ravel()
    h0 = _entropy(posterior(loglik))
    B = loglik.shape[1]
    drops = []
    for _ in range(n):
        k = rng.choice(joint.size, p=joint)
        lp = lv.log_pi[k // B, k % B]
        steps = rollout(
            lv.mdp, lambda t, s, r, lp=lp: r.choice(lp.shape[-1], p=np.exp(lp[t, s])), rng
        )
        drops.append(h0 - _entropy(posterior(loglik + episode_loglik(lv, steps))))
    return float(np.mean(drops))


@dataclass
class Result:
    names: list[str]
    posterior: np.ndarray
    history: list[dict]
    indistinguishable: list[list[str]]

    @property
    def best(self) -> str:
        return self.names[int(np.argmax(self.posterior))]

    @property
    def episodes(self) -> int:
        return len(self.history)


def identify(
    pool: list[PoolLevel],
    agent,
    seed: int = 0,
    chooser: str = "adaptive",
    budget: int = 30,
    stop: float = 0.95,
    n_samples: int = 8,
) -> Result:
    """Choose a level (adaptive: largest expected gain; random: uniform over the pool; deploy:
    the pool in order, for a pool that is the deploy set), play the agent on it, update, stop at
    posterior >= `stop` or `budget` episodes. `agent` is `make(mdp) -> act(t, s, rng)` (scripted,
    played on the table) or an object with `episode(level, rng) -> [(t, s, a), ...]` (a trained
    network played in the engine, `identify_trained.TrainedAgent`)."""
    if not pool:
        raise ValueError("the level pool is empty")
    if chooser not in ("adaptive", "random", "deploy"):
        raise ValueError(f"unknown chooser {chooser!r}; known: adaptive, random, deploy")
    choose_rng, play_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    names = pool[0].names
    loglik = np.zeros(pool[0].log_pi.shape[:2])
    history = []
    for ep in range(budget):
        if posterior(loglik).max() >= stop:
            break
        if chooser == "adaptive":
            gains = [expected_gain(lv, loglik, choose_rng, n_samples) for lv in pool]
            i = int(np.argmax(gains))
        elif chooser == "random":
            i = int(choose_rng.integers(len(pool)))
        else:
            i = ep % len(pool)
        lv = pool[i]
        if hasattr(agent, "episode"):  # a trained network played in the engine
            steps = agent.episode(lv, play_rng)
        else:
            steps = rollout(lv.mdp, agent(lv.mdp), play_rng)
        loglik = loglik + episode_loglik(lv, steps)
        post = posterior(loglik)
        history.append(
            {
                "episode": ep,
                "level": lv.name,
                "best": names[int(np.argmax(post))],
                "p_best": float(post.max()),
            }
        )
    return Result(names, posterior(loglik), history, indistinguishable(pool))


def planner_agent(objective: str, beta: float = 50.0, epsilon: float = 0.0):
    """A scripted planner pursuing `objective` (a hypothesis name): acts on the near-optimal
    soft policy for that reward on each level; with probability `epsilon` a random action."""

    def make(mdp: TabularMDP):
        r = hypotheses(mdp)[objective]
        lp = soft_value_iteration(mdp, r, beta=beta)

        def act(t, s, rng):
            if rng.random() < epsilon:
                return rng.integers(lp.shape[-1])
            return rng.choice(lp.shape[-1], p=np.exp(lp[t, s]) / np.exp(lp[t, s]).sum())

        return act

    return make
