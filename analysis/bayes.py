"""The exact Bayesian learner of a "which one pays" task (`which-object`): the reference an
in-context learner is measured against.

Exactly one of m options pays (+1 each time it is chosen); which one is hidden, drawn from a
prior. Each trial the learner chooses one option and sees whether it paid. The state of
knowledge is therefore (the options ruled out, or the one found): `policy` solves the
finite-horizon Bayes-adaptive problem exactly by dynamic programming over those states (no
greedy assumption; a test checks that the optimum here is "try the most probable option not yet
ruled out", and the hand-computed curves). `trial_rewards` then plays that policy against a
prize drawn from a possibly *different* distribution, exactly (by enumerating the prize):

    belief = truth         the Bayesian learner given the true prior (the best any learner can do)
    belief = train prior   the Bayesian learner with the training prior, at deploy: what a
                           perfect inner learner with a misleading prior does

For `which-object` the options are ordered (the lamp's colour, then the other two), so a prior is
`cue_prior(r)` = [r, (1 - r) / 2, (1 - r) / 2].
"""

from __future__ import annotations

from functools import cache

import numpy as np

TIE = 1e-9  # values this close are the same value (1/3 and (1 - 1/3) / 2 differ in float)


def cue_prior(reliability: float, m: int = 3) -> np.ndarray:
    """[r, (1 - r) / (m - 1), ...]: the lamp's option first (`which-object`'s knob r)."""
    if not 0.0 <= reliability <= 1.0:
        raise ValueError(f"reliability must be in [0, 1], got {reliability!r}")
    return np.array([reliability] + [(1.0 - reliability) / (m - 1)] * (m - 1))


def _check(p: np.ndarray, name: str) -> np.ndarray:
    p = np.asarray(p, float)
    if p.ndim != 1 or len(p) < 2 or (p < 0).any() or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must be a probability vector over >= 2 options, got {p}")
    return p


def policy(belief: np.ndarray, trials: int) -> tuple[float, dict[tuple[int, int], tuple[int, ...]]]:
    """(expected total reward, choice) of the Bayes-optimal learner under `belief` over `trials`
    trials. `choice[(ruled_out_mask, trials_left)]` holds every option that is optimal to try
    while it has not found the prize (once found, it repeats it); the learner picks one of them
    uniformly at random (so a uniform prior favours no option)."""
    b = _check(belief, "belief")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    m = len(b)
    choice: dict[tuple[int, int], int] = {}

    @cache
    def value(out: int, left: int) -> float:
        if left == 0:
            return 0.0
        open_ = [i for i in range(m) if not out >> i & 1]
        mass = sum(b[i] for i in open_)
        if mass <= 0:  # the belief rules out every open option: nothing can pay
            choice[(out, left)] = tuple(open_) or (0,)
            return 0.0
        vals = {}
        for i in open_:
            p = b[i] / mass
            vals[i] = p * left + (1 - p) * value(out | 1 << i, left - 1)
        best = max(vals.values())
        choice[(out, left)] = tuple(i for i, v in vals.items() if v >= best - TIE)
        return best

    total = value(0, trials)
    return total, choice


def trial_rewards(belief: np.ndarray, truth: np.ndarray, trials: int) -> np.ndarray:
    """float[trials]: the expected reward in each trial of the learner that is Bayes-optimal
    under `belief`, when the prize is drawn from `truth` (exact: every prize enumerated)."""
    b, q = _check(belief, "belief"), _check(truth, "truth")
    if len(b) != len(q):
        raise ValueError(f"belief has {len(b)} options, truth {len(q)}")
    _, choice = policy(b, trials)

    @cache
    def curve(prize: int, ruled: int, t: int) -> np.ndarray:
        """Expected rewards of trials t.. before the prize is found, ties averaged."""
        if t == trials:
            return np.zeros(0)
        picks = choice[(ruled, trials - t)]
        out = np.zeros(trials - t)
        for pick in picks:
            if pick == prize:  # found: it pays now and in every trial left
                out += 1.0
            else:
                out[1:] += curve(prize, ruled | 1 << pick, t + 1)
        return out / len(picks)

    return sum(w * curve(prize, 0, 0) for prize, w in enumerate(q) if w > 0)


def first_success(rewards: np.ndarray) -> float:
    """The expected trial (1-based) of the first reward from a per-trial reward curve of a
    learner that keeps the prize once found (reward[t] = P(found by t)); trials + 1 counts
    never finding it."""
    r = np.concatenate([[0.0], np.asarray(rewards, float)])
    new = np.clip(np.diff(r), 0, None)  # P(first found at trial t)
    trials = np.arange(1, len(new) + 1)
    return float((new * trials).sum() + (1 - r[-1]) * (len(new) + 1))
