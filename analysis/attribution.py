"""Which objectives explain an agent's actions: nested likelihood tests on held-out episodes.

For every candidate objective k, two Boltzmann-rational models of the agent are fitted by MCE
IRL (`mesaworld.analysis.irl.mce_irl`, the one discount DISCOUNT):

    nuisance       reward = a * stay                        a habit that is no goal
    nuisance + k   reward = a * stay + c * r_k, c >= 0       the same, plus pursuit of objective k

`stay` (standing still: 34-60% of a table's transitions, rare in any agent's actions) is what an
agent's actions show whatever its goal; it absorbs that, so the objective's term is credited
only with what it adds. c is kept >= 0: the test is whether k is *pursued* (a negative weight
would credit an objective for being avoided). A constant per step is no nuisance here: with
terminal steps it is equivalent to a bonus for ending the episode, and would absorb every
objective paid on reaching an exit or a goal (the coin's `end`, the supervisor's goal). The models are cross-fitted over two folds of episodes (fitted on one
half, scored on the other), so every episode gets a held-out log likelihood under both and a
richer model cannot win by overfitting. The *gain* of k is the held-out log likelihood it adds,
in nats per step: 0 = knowing the objective does not predict unseen actions better.

95% intervals: percentile bootstrap over episodes (every episode is on its own level, so levels
are resampled with them), BOOTSTRAP resamples, seeded. Besides each gain, the paired difference
gain(base) - gain(proxy) and its interval: on training levels where base and proxy agree the
interval holds 0 (the training data cannot tell the two goals apart: unidentifiability), and on
deploy levels it leaves 0 when the agent pursues one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mesaworld.analysis.irl import Demos, mce_irl
from mesaworld.envs.tabular import TabularMDP

NUISANCE = ("stay",)
BOOTSTRAP = 2000
FOLDS = 2


@dataclass(frozen=True)
class Gain:
    """A held-out log-likelihood gain in nats per step, with its 95% bootstrap interval."""

    mean: float
    lo: float
    hi: float

    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0


def _heldout(
    mdp: TabularMDP,
    demos: Demos,
    features: np.ndarray,
    nonnegative: tuple[int, ...] = (),
    init: list | None = None,
) -> tuple[np.ndarray, list]:
    """(float64[episodes]: every episode's log likelihood under the model fitted on the other
    fold, the fitted weights per fold). `init`: starting weights per fold (warm start)."""
    episodes = np.unique(demos.episode)
    out = np.zeros(int(episodes.max()) + 1)
    fitted = []
    for fold in range(FOLDS):
        held = episodes[episodes % FOLDS == fold]
        fit = np.setdiff1d(episodes, held)
        if len(held) == 0 or len(fit) == 0:
            raise ValueError(f"attribution needs at least {FOLDS} episodes, got {len(episodes)}")
        res = mce_irl(
            mdp,
            demos.subset(fit, mdp),
            heldout=demos.subset(held, mdp),
            features=features,
            max_iter=100,
            tol=1e-6,
            nonnegative=nonnegative,
            init=None if init is None else init[fold],
        )
        out[held] = res.heldout_episode_ll[held]
        fitted.append(res.theta)
    return out[episodes], fitted


def _unit(reward: np.ndarray) -> np.ndarray:
    scale = float(np.abs(reward).max())
    return reward / scale if scale > 0 else reward


def _bootstrap(diff: np.ndarray, steps: np.ndarray, rng: np.random.Generator) -> Gain:
    """Mean per step of per-episode differences, and its percentile interval."""
    idx = rng.integers(0, len(diff), (BOOTSTRAP, len(diff)))
    boot = diff[idx].sum(1) / steps[idx].sum(1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Gain(float(diff.sum() / steps.sum()), float(lo), float(hi))


def nested_attribution(
    mdp: TabularMDP, demos: Demos, seed: int = 0
) -> tuple[dict[str, Gain], dict[str, Gain]]:
    """({objective: gain over the nuisance model}, {proxy: gain(base) - gain(proxy)}), the base
    objective being `mdp.objectives[0]`. Needs at least FOLDS episodes."""
    missing = [f for f in NUISANCE if f not in mdp.feature_names]
    if missing:
        raise ValueError(f"{mdp.task}: no nuisance feature(s) {missing} in the table")
    nuisance = mdp.features(NUISANCE)
    episodes = np.unique(demos.episode)
    steps = np.bincount(demos.episode, minlength=int(episodes.max()) + 1)[episodes].astype(float)
    base_ll, fitted = _heldout(mdp, demos, nuisance)
    start = [np.append(theta, 0.0) for theta in fitted]  # the nested model starts there
    per_episode = {}
    for name in mdp.objectives:
        r = _unit(mdp.reward(name))[..., None]
        both = np.concatenate([nuisance, r], -1)
        ll, _ = _heldout(mdp, demos, both, (len(NUISANCE),), start)
        per_episode[name] = ll - base_ll
    rng = np.random.default_rng(seed)
    gains = {k: _bootstrap(v, steps, rng) for k, v in per_episode.items()}
    base = mdp.objectives[0]
    diffs = {
        k: _bootstrap(per_episode[base] - per_episode[k], steps, rng) for k in mdp.objectives[1:]
    }
    return gains, diffs
