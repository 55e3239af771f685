"""The exact Bayesian learner of a "which one pays" task whose prize pays only sometimes
(`which-object-noisy`), and the elimination heuristic it is told apart from.

Exactly one of m options is the prize; touched, it pays +1 with probability `payoff` (p), and the
others never pay. A payment therefore proves the prize; a miss only makes it less likely: after
c_i misses on option i the posterior is proportional to prior_i (1 - p)^c_i. The learner's state
is the tuple of miss counts (while nothing has paid) and the trials left; `policy` solves the
finite-horizon Bayes-adaptive problem exactly by dynamic programming over those states (no greedy
assumption). Once the prize has paid, every learner here keeps choosing it.

With p = 1 a miss rules an option out, and the learner is `mesaworld.analysis.bayes`'s (a test
checks the curves agree). With p < 1 it differs from **elimination** ("the lamp's option first,
then each option not yet tried, never returning to one that missed"): a strong enough prior
sends the Bayesian learner *back* to an option that missed. `persistence` gives, for each k, the
probability of trying option 0 (the lamp's colour) again after k misses on it in trials 1..k,
the number that tells the two apart.

On `which-object-noisy` (3 options, payoff 0.5, 8 trials) the exact policy turns out to be "the
option of highest posterior" in every state (a test checks it), and the trials left never change
the choice; the DP is kept because that is a finding about this task, not an assumption. Where
the posterior ties, the Bayesian learner is indifferent: `bayes` splits ties uniformly,
`bayes-lamp-ties` breaks them toward option 0 (both are Bayes-optimal; references that depend on
the convention say so). `advantage` gives the value of going back to option 0 over the best other
option in a state, in expected payments per episode.

Two heuristics for comparison: **elimination** ("the lamp's option first, then each option not
yet tried, never back to one that missed while an untried one is left; then round robin") and a
**count rule** ("option 0 while it has missed at most N times, then the least-tried other":
`count_choice`), which reproduces the Bayesian learner's persistence after k misses on option 0
alone with N = the number of times Bayes goes back, but not the states where other options have
missed too.

Options are ordered as in `mesaworld.analysis.bayes.cue_prior`: the lamp's colour, then the others.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from mesaworld.analysis.bayes import TIE, _check

POLICIES = ("bayes", "bayes-lamp-ties", "elimination", "count")


def _payoff(p: float) -> float:
    if not 0.0 < p <= 1.0:
        raise ValueError(f"payoff must be in (0, 1], got {p!r}")
    return float(p)


def _trials(trials: int) -> int:
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    return int(trials)


def posterior(belief: np.ndarray, misses: tuple[int, ...], payoff: float) -> np.ndarray:
    """P(option i is the prize | misses[i] misses on each i, no payment yet)."""
    b = _check(belief, "belief") * (1.0 - _payoff(payoff)) ** np.asarray(misses, float)
    total = b.sum()
    return b / total if total > 0 else np.full(len(b), 1.0 / len(b))


def policy(
    belief: np.ndarray, trials: int, payoff: float
) -> tuple[float, dict[tuple[tuple[int, ...], int], tuple[int, ...]]]:
    """(expected total reward, choice) of the Bayes-optimal learner under `belief`.
    `choice[(misses, trials_left)]` holds every option that is optimal to try while nothing has
    paid; the learner picks one of them uniformly at random."""
    b, p, n = _check(belief, "belief"), _payoff(payoff), _trials(trials)
    choice: dict[tuple[tuple[int, ...], int], tuple[int, ...]] = {}

    def visit(misses: tuple[int, ...], left: int) -> None:  # every state some choice reaches
        if left == 0 or (misses, left) in choice:
            return
        choice[(misses, left)] = bayes_choice(b, misses, left, p)
        for i in range(len(b)):
            visit(misses[:i] + (misses[i] + 1,) + misses[i + 1 :], left - 1)

    start = (0,) * len(b)
    visit(start, n)
    return max(_q(tuple(map(float, b)), p, start, n)), choice


def elimination_choice(belief: np.ndarray, misses: tuple[int, ...]) -> tuple[int, ...]:
    """The heuristic: among the options tried least often, the most probable a priori (ties
    kept); so the lamp's option first when the lamp is informative, never a missed one again
    while an untried one is left."""
    b = _check(belief, "belief")
    least = min(misses)
    open_ = [i for i in range(len(b)) if misses[i] == least]
    best = max(b[i] for i in open_)
    return tuple(i for i in open_ if b[i] >= best - TIE)


def count_choice(misses: tuple[int, ...], n_back: int) -> tuple[int, ...]:
    """The count rule: option 0 while it has missed at most `n_back` times, else the least-tried
    of the others (ties kept)."""
    if misses[0] <= n_back:
        return (0,)
    least = min(misses[1:])
    return tuple(i for i in range(1, len(misses)) if misses[i] == least)


@cache
def _q(belief: tuple[float, ...], p: float, misses: tuple[int, ...], left: int) -> tuple:
    """Q of each option in a state (nothing paid yet, `left` >= 1 trials left), exact."""
    post = posterior(np.array(belief), misses, p)
    out = []
    for i in range(len(belief)):
        after = misses[:i] + (misses[i] + 1,) + misses[i + 1 :]
        rest = max(_q(belief, p, after, left - 1)) if left > 1 else 0.0
        hit = post[i] * p
        out.append(hit * (1.0 + p * (left - 1)) + (1 - hit) * rest)
    return tuple(out)


def advantage(belief: np.ndarray, misses: tuple[int, ...], left: int, payoff: float) -> float:
    """Q(option 0) - max Q(other) in the state (`misses`, `left` trials left, nothing paid yet):
    what going back to option 0 is worth over the best alternative, in expected payments."""
    b, p, left = _check(belief, "belief"), _payoff(payoff), _trials(left)
    q = _q(tuple(map(float, b)), p, tuple(map(int, misses)), left)
    return q[0] - max(q[1:])


def bayes_choice(belief: np.ndarray, misses: tuple[int, ...], left: int, payoff: float):
    """The options the Bayes-optimal learner may choose in any state (also states `policy` does
    not reach, e.g. after trials in which nothing was touched)."""
    b, p = _check(belief, "belief"), _payoff(payoff)
    q = _q(tuple(map(float, b)), p, tuple(map(int, misses)), _trials(left))
    return tuple(i for i, v in enumerate(q) if v >= max(q) - TIE)


def chooser(kind: str, belief: np.ndarray, trials: int, payoff: float, n_back: int = 0):
    if kind == "bayes":
        return lambda misses, left: bayes_choice(belief, misses, left, payoff)
    if kind == "bayes-lamp-ties":

        def sticky(misses, left):
            picks = bayes_choice(belief, misses, left, payoff)
            return (0,) if 0 in picks else picks

        return sticky
    if kind == "elimination":
        return lambda misses, left: elimination_choice(belief, misses)
    if kind == "count":
        return lambda misses, left: count_choice(misses, n_back)
    raise ValueError(f"learner must be one of {POLICIES}, got {kind!r}")


def curves(
    belief: np.ndarray, truth: np.ndarray, trials: int, payoff: float, learner: str = "bayes"
) -> dict[str, np.ndarray]:
    """Exact per-trial curves of `learner` (acting on `belief`) when the prize is drawn from
    `truth`: `reward` (expected reward in trial t) and `first` (P(first payment in trial t)),
    every prize and payment outcome enumerated."""
    b, q = _check(belief, "belief"), _check(truth, "truth")
    if len(b) != len(q):
        raise ValueError(f"belief has {len(b)} options, truth {len(q)}")
    p, n = _payoff(payoff), _trials(trials)
    pick = chooser(learner, b, n, p)

    @cache
    def go(prize: int, misses: tuple[int, ...], t: int) -> tuple[np.ndarray, np.ndarray]:
        reward, first = np.zeros(n), np.zeros(n)
        if t == n:
            return reward, first
        picks = pick(misses, n - t)
        for i in picks:
            after = misses[:i] + (misses[i] + 1,) + misses[i + 1 :]
            r_miss, f_miss = go(prize, after, t + 1)
            if i == prize:  # pays with p, then p per trial on the proven prize
                reward[t] += p
                reward[t + 1 :] += p * p
                first[t] += p
                reward += (1 - p) * r_miss
                first += (1 - p) * f_miss
            else:
                reward += r_miss
                first += f_miss
        return reward / len(picks), first / len(picks)

    out = [(w, go(prize, (0,) * len(b), 0)) for prize, w in enumerate(q) if w > 0]
    return {
        "reward": sum(w * r for w, (r, _) in out),
        "first": sum(w * f for w, (_, f) in out),
    }


def level_curves(
    belief: np.ndarray, prize: int, missed: np.ndarray, payoff: float, learner: str = "bayes"
) -> dict[str, np.ndarray]:
    """`reward` and `first` (as `curves`) of `learner` on one level whose prize is option
    `prize` and whose schedule `missed` (bool[trials]) says in which trials the prize would not
    pay; the expectation is over the learner's ties only. Averaged over a set of levels: the
    learners on exactly the levels an agent played (no level-sampling noise between them)."""
    b, p = _check(belief, "belief"), _payoff(payoff)
    miss = np.asarray(missed, bool)
    n = _trials(len(miss))
    if not 0 <= prize < len(b):
        raise ValueError(f"prize must be an option 0-{len(b) - 1}, got {prize!r}")
    pick = chooser(learner, b, n, p)
    pays = (~miss).astype(float)

    @cache
    def go(misses: tuple[int, ...], t: int) -> tuple[np.ndarray, np.ndarray]:
        reward, first = np.zeros(n), np.zeros(n)
        if t == n:
            return reward, first
        picks = pick(misses, n - t)
        for i in picks:
            if i == prize and pays[t]:  # found: it stays, paid whenever the schedule pays
                reward[t:] += pays[t:]
                first[t] += 1
            else:
                r, f = go(misses[:i] + (misses[i] + 1,) + misses[i + 1 :], t + 1)
                reward += r
                first += f
        return reward / len(picks), first / len(picks)

    reward, first = go((0,) * len(b), 0)
    return {"reward": reward, "first": first}


def first_trial(first: np.ndarray) -> float:
    """The expected trial (1-based) of the first payment from P(first payment in trial t);
    trials + 1 counts never paid."""
    f = np.asarray(first, float)
    return float((f * np.arange(1, len(f) + 1)).sum() + (1 - f.sum()) * (len(f) + 1))


def persistence(belief: np.ndarray, trials: int, payoff: float, learner: str = "bayes") -> list:
    """[k-1] for k = 1 .. trials - 1: the probability that `learner` tries option 0 in trial
    k + 1 after trying it in trials 1..k and missing every time (ties split uniformly)."""
    b, p, n = _check(belief, "belief"), _payoff(payoff), _trials(trials)
    pick = chooser(learner, b, n, p)
    out = []
    for k in range(1, n):
        picks = pick((k,) + (0,) * (len(b) - 1), n - k)
        out.append(picks.count(0) / len(picks))
    return out
