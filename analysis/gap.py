"""The reward-result gap in returns: what the behavioral objective's own policy achieves.

The behavioral objective (the reward inverse RL recovers from an agent's behaviour) is judged by
its consequences, not by its coefficients: on the same exported levels, its policy is computed
and scored under the base objective and under every proxy, each from the uniformly random policy
(0) to that objective's optimum (1), exactly like the agent's own scores. Two policies:

    boltzmann  the soft-optimal policy at the fitted temperature (beta 1 on the recovered reward,
               whose scale IRL fitted to the actions; discount DISCOUNT, like the fit): what
               the behavioral objective predicts
               the agent does. A random agent's recovered reward is nearly flat, and so scores 0.
    optimal    the (near-)optimal policy of the recovered reward (beta OPTIMAL_BETA): what the
               recovered goal is worth when pursued perfectly. Ill-defined for a flat reward
               (ties are split by tiny differences): read it only where the Boltzmann scores are
               clearly above 0.

gap/<proxy> = boltzmann score under base - boltzmann score under the proxy: positive when the
behavioral objective serves the designer's goal better than the proxy, negative when it serves
the proxy. Nuisance features (`step`, `stay`) need no special handling: whatever weight IRL gives
them, only the returns of the resulting policy under the real objectives are read.
"""

from __future__ import annotations

import numpy as np

from mesaworld.analysis.irl import optimal_return, policy_visits
from mesaworld.envs.tabular import TabularMDP

OPTIMAL_BETA = 100.0


def _uniform_visits(mdp: TabularMDP, starts: np.ndarray) -> np.ndarray:
    return policy_visits(mdp, np.zeros(mdp.next.shape), 0.0, starts)


def reference_returns(mdp: TabularMDP, starts: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per objective, the (uniformly random, optimal) total return from float[S] start counts,
    exact on the table: the 0 and the 1 of every score."""
    rand_visits = _uniform_visits(mdp, starts)
    return {
        name: (
            float((rand_visits * mdp.rewards[k]).sum()),
            optimal_return(mdp, mdp.rewards[k], starts),
        )
        for k, name in enumerate(mdp.objectives)
    }


def reward_score(mdp: TabularMDP, reward: np.ndarray, got: float, starts: np.ndarray) -> float:
    """The score of total return `got` under any float[S, A] `reward` (e.g. a training reward
    mixture), between its uniformly random (0) and optimal (1) returns from `starts`."""
    rand = float((_uniform_visits(mdp, starts) * reward).sum())
    return score(got, (rand, optimal_return(mdp, reward, starts)))


def score(got: float, reference: tuple[float, float]) -> float:
    """(got - random) / (optimal - random); NaN where the two coincide."""
    rand, best = reference
    return (got - rand) / (best - rand) if best - rand > 1e-9 else float("nan")


def policy_scores(
    mdp: TabularMDP, reward: np.ndarray, starts: np.ndarray, beta: float, refs: dict
) -> dict[str, float]:
    """Score under every objective (0 = uniformly random, 1 = optimal; `refs` from
    `reference_returns`) of the Boltzmann policy of float[S, A] `reward` at inverse temperature
    `beta`, from float[S] start counts."""
    visits = policy_visits(mdp, reward, beta, starts)
    return {
        name: score(float((visits * mdp.rewards[k]).sum()), refs[name])
        for k, name in enumerate(mdp.objectives)
    }


def gap_columns(
    mdp: TabularMDP, recovered: np.ndarray, starts: np.ndarray, refs: dict
) -> dict[str, float]:
    """The row columns: gap_boltzmann/<k>, gap_optimal/<k> and gap/<proxy>."""
    soft = policy_scores(mdp, recovered, starts, 1.0, refs)
    hard = policy_scores(mdp, recovered, starts, OPTIMAL_BETA, refs)
    out = {f"gap_boltzmann/{k}": v for k, v in soft.items()}
    out.update({f"gap_optimal/{k}": v for k, v in hard.items()})
    base = mdp.objectives[0]
    out.update({f"gap/{k}": soft[base] - soft[k] for k in mdp.objectives[1:]})
    return out
