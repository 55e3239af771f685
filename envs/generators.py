"""Level distributions as printable values: generators, `Fixed`, `Mixture`, and `Shift`.

A generator is a frozen dataclass. It declares how many uniform random numbers one level needs
(`n_uniforms`) and builds levels from them in a batch (`build(u) -> uint8[n, H, W]` char codes), so
the engine can reset thousands of environments with no Python loop over levels. `sample(rng)`
draws one `Level` through the same code path, so the two can never disagree.

A `Shift` is a pair of generators (train, deploy) plus the name of the train generator's field that
the *knob* sets. The shift is the diff between two printable objects, never a branch in `step`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mesaworld.envs.level import AGENT, FLOOR, WALL, Level

SPLITS = ("train", "deploy")


class Generator:
    """Base class of level distributions (subclasses are frozen dataclasses)."""

    shape: tuple[int, int]

    @property
    def n_uniforms(self) -> int:
        """How many U[0, 1) numbers one level consumes."""
        raise NotImplementedError

    def build(self, u: np.ndarray) -> np.ndarray:
        """float64[n, n_uniforms] -> uint8[n, H, W] ASCII codes of n levels."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Level:
        """Draw one level."""
        return Level.from_array(self.build(rng.random((1, self.n_uniforms)))[0])


def _pick_index(u: np.ndarray, n: int) -> np.ndarray:
    """Map U[0, 1) to {0..n-1} uniformly (guarding the u -> 1 rounding edge)."""
    return np.minimum((u * n).astype(np.int64), n - 1)


@dataclass(frozen=True)
class Fixed(Generator):
    """A finite set of levels, drawn uniformly: hand-written deploy levels, evaluation sets."""

    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        levels = tuple(lv if isinstance(lv, Level) else Level.from_str(lv) for lv in self.levels)
        if not levels:
            raise ValueError("Fixed needs at least one level")
        shapes = {lv.shape for lv in levels}
        if len(shapes) > 1:
            raise ValueError(f"Fixed levels must share one shape, got {sorted(shapes)}")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "_codes", np.stack([lv.to_array() for lv in levels]))

    @property
    def shape(self) -> tuple[int, int]:  # type: ignore[override]
        return self.levels[0].shape

    @property
    def n_uniforms(self) -> int:
        return 1

    def build(self, u: np.ndarray) -> np.ndarray:
        return self._codes[_pick_index(u[:, 0], len(self.levels))]

    def __repr__(self) -> str:
        return f"Fixed(<{len(self.levels)} levels {self.shape[0]}x{self.shape[1]}>)"


@dataclass(frozen=True)
class Mixture(Generator):
    """With probability `p` a level from `b`, otherwise from `a`."""

    a: Generator
    b: Generator
    p: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"Mixture.p must be in [0, 1], got {self.p}")
        if self.a.shape != self.b.shape:
            raise ValueError(f"Mixture parts differ in shape: {self.a.shape} vs {self.b.shape}")

    @property
    def shape(self) -> tuple[int, int]:  # type: ignore[override]
        return self.a.shape

    @property
    def n_uniforms(self) -> int:
        return 1 + max(self.a.n_uniforms, self.b.n_uniforms)

    def build(self, u: np.ndarray) -> np.ndarray:
        use_b = u[:, 0] < self.p
        out = np.empty((len(u), *self.shape), np.uint8)
        # Build each part only for the rows that use it: p = 0 never touches `b`.
        if (~use_b).any():
            out[~use_b] = self.a.build(u[~use_b, 1 : 1 + self.a.n_uniforms])
        if use_b.any():
            out[use_b] = self.b.build(u[use_b, 1 : 1 + self.b.n_uniforms])
        return out


@dataclass(frozen=True)
class Shift:
    """A named distribution shift: train and deploy generators, and the knob between them.

    `knob` names a field of `train` (a float in `knob_range`). Setting it moves the train
    distribution toward deploy; `knob_name` is how figures and configs call it.
    """

    train: Generator
    deploy: Generator
    knob: str
    knob_name: str
    knob_doc: str
    knob_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.train.shape != self.deploy.shape:
            raise ValueError(
                f"train and deploy shapes differ: {self.train.shape} vs {self.deploy.shape}"
            )
        if not any(f.name == self.knob for f in dataclasses.fields(self.train)):  # type: ignore[arg-type]
            raise ValueError(
                f"knob field {self.knob!r} is not a field of {type(self.train).__name__}"
            )

    @property
    def knob_default(self) -> float:
        return float(getattr(self.train, self.knob))

    def generator(self, split: str, knob: float | None = None) -> Generator:
        """The level distribution of `split`, with the train knob set to `knob` if given."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if knob is not None:
            lo, hi = self.knob_range
            if isinstance(knob, bool) or not isinstance(knob, numbers.Real) or not lo <= knob <= hi:
                raise ValueError(
                    f"knob ({self.knob_name}) must be a number in [{lo}, {hi}], got {knob!r}"
                )
        if split == "deploy":
            return self.deploy
        if knob is None:
            return self.train
        return dataclasses.replace(self.train, **{self.knob: float(knob)})  # type: ignore[type-var]


def as_generator(levels: Sequence[Level | str] | Generator) -> Generator:
    """Accept a generator, or a list of levels / ASCII strings / file paths, as a generator."""
    if isinstance(levels, Generator):
        return levels
    if isinstance(levels, Level | str):
        levels = [levels]
    parsed = []
    for lv in levels:
        if isinstance(lv, str) and "\n" not in lv:
            lv = Level.from_file(lv)
        parsed.append(lv)
    return Fixed(tuple(parsed))


# --- walled rooms with objects (shared by room-style tasks) -----------------------------------
def check_count_range(owner: str, name: str, value: tuple[int, int]) -> tuple[int, int]:
    """Validate a (lo, hi) count range field; the error names `owner.name`."""
    lo, hi = value
    if not (isinstance(lo, int) and isinstance(hi, int)) or lo < 0 or hi < lo:
        raise ValueError(
            f"{owner}.{name} must be a range (lo, hi) with 0 <= lo <= hi, got {value!r}"
        )
    return (lo, hi)


def room_cells(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(interior cells, obstacle lattice) of a walled size x size room, as flat indices.

    The lattice is the interior cells with odd interior coordinates: obstacles placed only
    there leave every even interior row and column free, so the floor stays connected.
    """
    inner = np.arange(1, size - 1)
    interior = (inner[:, None] * size + inner[None, :]).ravel()
    odd = np.arange(2, size - 1, 2)
    return interior, (odd[:, None] * size + odd[None, :]).ravel()


def build_rooms(
    u: np.ndarray,
    size: int,
    obstacle: str,
    n_obstacles: np.ndarray,
    objects: Sequence[tuple[str, np.ndarray]],
) -> np.ndarray:
    """Batched rooms: walls, `n_obstacles` obstacles on the lattice, then the agent and each
    object kind (char, count per level) on distinct free interior cells.

    u: float[n, len(lattice) + len(interior)] keys. Returns uint8[n, size, size] char codes.
    """

    interior, lattice = room_cells(size)
    n = len(u)
    grid = np.full((n, size * size), ord(WALL), np.uint8)
    grid[:, interior] = ord(FLOOR)
    rows = np.arange(n)[:, None]
    # Obstacles: the n_obstacles lattice spots with the smallest keys.
    p = len(lattice)
    order = u[:, :p].argsort(1)
    spots = np.full((n, p), ord(FLOOR), np.uint8)
    spots[rows, order] = np.where(np.arange(p) < n_obstacles[:, None], ord(obstacle), ord(FLOOR))
    grid[:, lattice] = spots
    # Everything else: sort the free interior cells by key; the agent first, then each kind.
    cells = grid[:, interior]
    keys = np.where(cells == ord(obstacle), 2.0, u[:, p:])  # obstacles sort last
    order = keys.argsort(1)
    j = np.arange(len(interior))
    conditions, chars, end = [j == 0], [ord(AGENT)], 1
    for ch, count in objects:
        end = end + count[:, None]
        conditions.append(j < end)
        chars.append(ord(ch))
    placed = np.select(conditions, chars, 0)
    cells[rows, order] = np.where(placed > 0, placed, cells[rows, order]).astype(np.uint8)
    grid[:, interior] = cells
    return grid.reshape(n, size, size)
