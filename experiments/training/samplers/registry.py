"""The table of level samplers: one row per sampler, each row what its file ends in.

    SAMPLERS        name -> SamplerRow (dr, plr, plr-maxmc, plr-regret, sfl, regret, accel,
                    accel-regret)
    register        add a row (a new sampler is one file and one entry in `_MODULES`)
    check_sampler   the one-line problem with a (sampler, pool_size, replay_prob), or None
    make_sampler    the sampler a training run uses (None: DR without a pool, the generator)

Generic code (the trainer, the benchmark, the tests) iterates this table and never names a
sampler. The oracle's optimum of every pool level is computed here, once, when the run starts
(Roomba: ~1 ms a level), not in the middle of a rollout, and kept for the next run of this
process on the same pool. The pool and its seed are decided here: `DEFAULT_POOL` levels when a sampler other
than DR is asked for without a pool size, drawn from the train generator at the run's knob with
a stream of the run's seed that no other part of training uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mesaworld.experiments.training.samplers import accel, dr, plr, regret, sfl
from mesaworld.experiments.training.samplers.sampler import Sampler, make_pool

SAMPLER_LEVELS = "sampler_levels.csv"  # a run folder's per-level record (`levels_table`)
DEFAULT_POOL = 1000  # levels in the pool when a sampler other than DR is given no pool_size
MAX_POOL = 1_000_000


@dataclass(frozen=True)
class SamplerRow:
    name: str
    make: Callable[..., Sampler]
    about: str


SAMPLERS: dict[str, SamplerRow] = {}


def register(row: SamplerRow) -> SamplerRow:
    taken = SAMPLERS.get(row.name)
    if taken is not None and taken != row:
        raise ValueError(f"sampler {row.name!r} is registered already")
    SAMPLERS[row.name] = row
    return row


_MODULES = (dr, plr, sfl, regret, accel)
for _module in _MODULES:
    for _row in getattr(_module, "ROWS", None) or (_module.ROW,):
        register(SamplerRow(**_row))


def check_sampler(
    name: str, pool_size: int, replay_prob: float, pool_alpha: float | None = None
) -> str | None:
    """The one-line problem with these settings ("field: message"), or None."""
    if name not in SAMPLERS:
        return f"sampler: unknown sampler {name!r}; known: {', '.join(SAMPLERS)}"
    if not 0 <= pool_size <= MAX_POOL:
        return f"pool_size: must be in [0, {MAX_POOL:,}] (0: no pool), got {pool_size!r}"
    if not 0.0 <= replay_prob <= 1.0:
        return f"replay_prob: must be in [0, 1], got {replay_prob!r}"
    if pool_alpha is not None:
        if not 0.0 <= pool_alpha <= 1.0:
            return f"pool_alpha: must be in [0, 1], got {pool_alpha!r}"
        if pool_size_of(name, pool_size) == 0:
            return "pool_alpha: needs a pool (--pool-size, or a sampler other than dr)"
    return None


def pool_size_of(name: str, pool_size: int) -> int:
    """The pool a run uses: its pool_size, or DEFAULT_POOL for a sampler other than DR."""
    return pool_size if pool_size or name == "dr" else DEFAULT_POOL


def sampler_seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(pool, sampler) streams of a run's seed, apart from the envs', init's and sampling's."""
    pool, choices = np.random.SeedSequence([seed, 0x5A11]).spawn(2)
    return pool, choices


def pool_origin(seed: int, n: int, pool_alpha: float) -> np.ndarray:
    """bool[n]: which positions of a run's pool hold a deploy (distinguishing) level, laid out
    as `make_sampler` lays them (its seed streams, its order)."""
    k = int(round(pool_alpha * n))
    order_seed = sampler_seeds(seed)[0].spawn(3)[2]
    return np.random.default_rng(order_seed).permutation(n) >= n - k


def make_sampler(
    name: str,
    pool_size: int,
    replay_prob: float,
    generator,
    task,
    num_envs: int,
    seed: int,
    pool_alpha: float | None = None,
    deploy=None,
) -> Sampler | None:
    """The sampler of a training run, on its pool; None for DR without a pool. With
    `pool_alpha`, exactly round(pool_alpha * n) pool levels come from `deploy` (the
    distinguishing levels), the others from `generator`, in an order the seed shuffles."""
    if problem := check_sampler(name, pool_size, replay_prob, pool_alpha):
        raise ValueError(problem)
    n = pool_size_of(name, pool_size)
    if n == 0:
        return None
    pool_seed, choice_seed = sampler_seeds(seed)
    if pool_alpha is None:
        codes = make_pool(generator, n, pool_seed)
    else:
        k = int(round(pool_alpha * n))
        train_seed, deploy_seed, order_seed = pool_seed.spawn(3)
        parts = [make_pool(generator, n - k, train_seed), make_pool(deploy, k, deploy_seed)]
        codes = np.concatenate(parts)[np.random.default_rng(order_seed).permutation(n)]
    sampler = SAMPLERS[name].make(codes, task, num_envs, choice_seed, replay_prob=replay_prob)
    key = _pool_key(task, codes)
    if key in _OPTIMA:  # the same pool in this process (e07: every sampler of a seed and alpha)
        sampler.optimum[:n] = _OPTIMA[key]
    else:
        sampler.optimal(np.arange(n))  # every pool level's optimum now, once, before training
        _OPTIMA.clear()  # one pool kept: a worker trains a (seed, alpha)'s samplers in a row
        _OPTIMA[key] = sampler.optimum[:n].copy()  # ACCEL keeps room for edits after n
    return sampler


_OPTIMA: dict[tuple, np.ndarray] = {}


def _pool_key(task, codes: np.ndarray) -> tuple:
    """A pool's identity for the optima cache: the task's class and scalar settings (horizon,
    steps: what the oracle reads besides the level) and a digest of the level codes."""
    scalars = (bool, int, float, str, np.generic)  # max_steps is an np.int64
    settings = sorted(
        (k, repr(v)) for k, v in vars(task).items() if isinstance(v, scalars) or k == "shape"
    )
    digest = hashlib.sha256(np.ascontiguousarray(codes).tobytes()).hexdigest()
    kind = (type(task).__module__, type(task).__qualname__)
    return kind, repr(settings), codes.shape, str(codes.dtype), digest
