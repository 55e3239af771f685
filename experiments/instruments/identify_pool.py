"""The level pool of adaptive identification (issue 25, item 2): the task's generators across the
knob range plus single edits of those levels, drawn from the pool's own seed stream, never the
held-out evaluation set.

    level_pool     uint8[L, H, W] codes and a name per level ("full" pool or "train" only)
    edit_level     one single edit of a level (move the cheese, add a key, move or add a can)
    eval_overlap   names of pool levels that are also evaluation levels (must be none)

Pool kinds:
    full   per generator `n` levels: train at the low end, middle and high end of the knob range,
           and deploy; then one single edit of every one of those levels (kept only if it passes
           the task's level check and differs from its source).
    train  `n` train levels at the shift's default knob only (cheese maze: corner_size 1, the
           cheese in the corner; keys & chests: p 0), no edits: the pool on which a proxy that
           agrees with the base step by step cannot be told apart from it.
    deploy 4 * `n` levels of the deploy generator, no edits (the "deploy set" baseline: fresh
           deploy levels from the pool stream, not the held-out evaluation set).

The pool stream is SeedSequence(seed, spawn_key=(POOL_KEY, k)); the evaluation sets use
spawn_key=(split,) of their eval_seed (`evaluate.eval_levels`), so the streams differ by
construction and `level_pool` also asserts that no pool level equals an evaluation level.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mesaworld.envs.level import AGENT, FLOOR, Level
from mesaworld.envs.registry import get_task
from mesaworld.experiments.training.evaluate import eval_levels

POOL_KEY = 7_251  # the pool's spawn key: never one of the evaluation sets' (0 or 1)
POOLS = ("full", "train", "deploy")
N_KNOBS = 3  # train generators at the low end, middle and high end of the knob range

# Single edits per task: (kind, char). "move": one object of `char` to another floor cell;
# "add": one more `char` on a floor cell. A task with several edits cycles through them.
EDITS: dict[str, tuple[tuple[str, str], ...]] = {
    "cheese-maze": (("move", "C"),),
    "keys-chests": (("add", "k"),),
    "roomba": (("move", "c"), ("add", "c")),
}


# Smaller pool levels where the task's generators allow it, so that one level's exported policy
# table fits (hypotheses x betas x horizon x states x 5 floats): a field (lo, hi) of any of the
# task's generators is capped at (min(lo, cap), min(hi, cap)). The Roomba: 4 floor dust and at
# most 2 cans per room (full-size rooms reach ~50k states; these ~2.5k).
SMALL: dict[str, dict[str, int]] = {"roomba": {"dust": 4, "cans": 2}}


def _shrink(gen, caps: dict[str, int]):
    """`gen` with every (lo, hi) field named in `caps` capped, Mixture parts included."""
    if not dataclasses.is_dataclass(gen):
        return gen
    changes = {}
    for f in dataclasses.fields(gen):
        value = getattr(gen, f.name)
        if f.name in caps and isinstance(value, tuple):
            cap = caps[f.name]
            changes[f.name] = (min(value[0], cap), min(value[1], cap))
        elif dataclasses.is_dataclass(value):
            changes[f.name] = _shrink(value, caps)
    return dataclasses.replace(gen, **changes) if changes else gen


def _stream(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(POOL_KEY, k)))


def _draw(task: str, split: str, n: int, rng: np.random.Generator, knob=None) -> np.ndarray:
    spec = get_task(task)
    gen = _shrink(spec.shift.generator(split, knob), SMALL.get(spec.name, {}))
    return gen.build(rng.random((n, gen.n_uniforms)))


def edit_level(task: str, codes: np.ndarray, rng: np.random.Generator, which: int = 0):
    """(edited uint8[H, W] codes, a short description), or None if the task has no edit or the
    level offers no cell for any. Tries the task's edits from number `which` on (a level with no
    can to move gets one added); the edit goes onto a plain floor cell chosen by `rng`."""
    edits = EDITS.get(get_task(task).name, ())
    for k in range(len(edits)):
        got = _edit(codes, rng, *edits[(which + k) % len(edits)])
        if got is not None:
            return got
    return None


def _edit(codes: np.ndarray, rng: np.random.Generator, kind: str, ch: str):
    out = np.array(codes, np.uint8, copy=True)
    floor = np.argwhere(out == ord(FLOOR))
    if len(floor) == 0:
        return None
    if kind == "move":
        have = np.argwhere(out == ord(ch))
        if len(have) == 0:
            return None
        src = tuple(have[rng.integers(len(have))])
        dst = tuple(floor[rng.integers(len(floor))])
        out[src], out[dst] = ord(FLOOR), ord(ch)
        return out, f"move {ch} {src[0]},{src[1]}->{dst[0]},{dst[1]}"
    dst = tuple(floor[rng.integers(len(floor))])
    out[dst] = ord(ch)
    return out, f"add {ch} {dst[0]},{dst[1]}"


def passes_check(task: str, codes: np.ndarray) -> bool:
    """The task's level check (legend, wall border, one agent) plus the object counts the
    task's generators guarantee (cheese maze: exactly one cheese)."""
    spec = get_task(task)
    try:
        spec.task_cls((codes.shape[0], codes.shape[1])).check(Level.from_array(codes))
    except ValueError:
        return False
    if int((codes == ord(AGENT)).sum()) != 1:
        return False
    return not (spec.name == "cheese-maze" and int((codes == ord("C")).sum()) != 1)


def eval_sets(task: str, eval_seed: int, levels: int) -> np.ndarray:
    """uint8[2 * levels, H, W]: the train and deploy evaluation sets `evaluate.py` scores on."""
    return np.concatenate([eval_levels(task, s, levels, eval_seed) for s in ("train", "deploy")])


def eval_overlap(names: list[str], codes: np.ndarray, held_out: np.ndarray) -> list[str]:
    """Names of pool levels byte-equal to a held-out level."""
    seen = {c.tobytes() for c in np.asarray(held_out, np.uint8)}
    return [nm for nm, c in zip(names, codes, strict=True) if c.tobytes() in seen]


def level_pool(
    task: str,
    n: int,
    seed: int,
    pool: str = "full",
    held_out: tuple[int, int] = (20261123, 200),
) -> tuple[np.ndarray, list[str]]:
    """(uint8[L, H, W] codes, names) of the pool; `held_out` = (eval_seed, levels) of the
    evaluation set that must stay out (asserted). Deterministic in `seed`."""
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; known: {', '.join(POOLS)}")
    if n < 1:
        raise ValueError(f"levels per generator must be >= 1, got {n}")
    spec = get_task(task)
    shift = spec.shift
    parts, names = [], []
    if pool == "train":
        knob = shift.knob_default
        parts.append(_draw(task, "train", n, _stream(seed, 0), None))
        names += [f"train@{shift.knob_name}={knob:g}#{i}" for i in range(n)]
    elif pool == "deploy":
        parts.append(_draw(task, "deploy", 4 * n, _stream(seed, N_KNOBS)))
        names += [f"deploy#{i}" for i in range(4 * n)]
    else:
        lo, hi = shift.knob_range
        for k, knob in enumerate(np.linspace(lo, hi, N_KNOBS)):
            knob = float(round(knob)) if lo == int(lo) and hi - lo >= N_KNOBS else float(knob)
            parts.append(_draw(task, "train", n, _stream(seed, k), knob))
            names += [f"train@{shift.knob_name}={knob:g}#{i}" for i in range(n)]
        parts.append(_draw(task, "deploy", n, _stream(seed, N_KNOBS)))
        names += [f"deploy#{i}" for i in range(n)]
    codes = np.concatenate(parts)
    if pool == "full":
        rng = _stream(seed, N_KNOBS + 1)
        extra, extra_names = [], []
        for j, (c, nm) in enumerate(zip(codes, list(names), strict=True)):
            got = edit_level(task, c, rng, j)
            if got is None or not passes_check(task, got[0]) or np.array_equal(got[0], c):
                continue
            extra.append(got[0])
            extra_names.append(f"{nm} {got[1]}")
        if extra:
            codes = np.concatenate([codes, np.stack(extra)])
            names += extra_names
    # Distinct levels only (a knob at which the generator has little freedom can repeat one).
    _, first = np.unique(codes.reshape(len(codes), -1), axis=0, return_index=True)
    keep = np.sort(first)
    codes, names = codes[keep], [names[i] for i in keep]
    clash = eval_overlap(names, codes, eval_sets(task, *held_out))
    assert not clash, f"pool levels equal to evaluation levels: {clash}"
    return codes, names
