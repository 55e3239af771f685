"""Levels as data: one concrete grid layout, writable and readable as ASCII.

A `Level` is task-agnostic: a rectangle of characters. What each character means is a task's
*legend* (each task file has one, e.g. `mesaworld.envs.tasks.roomba.LEGEND`); `check_level` validates a
level against a legend and names the line and column of the first problem, so hand-written deploy
levels fail loudly and precisely.

Shared conventions for every task:
    '#'  wall (impassable); every level is enclosed by walls
    '.'  empty floor
    'A'  the agent's start cell (exactly one)
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WALL, FLOOR, AGENT = "#", ".", "A"
MAX_FILE_BYTES = 1 << 20  # a level file is a few hundred bytes of ASCII art


class LevelError(ValueError):
    """A level's text or content is malformed; the message names the line and column."""


@dataclass(frozen=True)
class Level:
    """One grid layout. `rows[r][c]` is the character at row r, column c (row 0 at the top)."""

    rows: tuple[str, ...]

    def __post_init__(self) -> None:
        rows = tuple(self.rows)
        object.__setattr__(self, "rows", rows)
        if not rows or not rows[0]:
            raise LevelError("level is empty")
        width = len(rows[0])
        for r, row in enumerate(rows):
            if not isinstance(row, str):
                raise LevelError(f"line {r + 1}: row is {type(row).__name__}, expected str")
            for c, ch in enumerate(row):
                if not (ch.isascii() and ch.isprintable()):
                    raise LevelError(
                        f"line {r + 1}, column {c + 1}: character {ch!r} is not printable "
                        "ASCII (levels are ASCII art)"
                    )
            if len(row) != width:
                raise LevelError(
                    f"line {r + 1}: row has {len(row)} characters, expected {width} "
                    "(every row of a level has the same width)"
                )

    @classmethod
    def from_str(cls, text: str) -> Level:
        """Parse ASCII art; surrounding blank lines, common indentation and trailing spaces go."""
        if not isinstance(text, str):
            raise LevelError(f"level text must be a str, got {type(text).__name__}")
        text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
        lines = [line.rstrip() for line in textwrap.dedent(text).splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        return cls(tuple(lines))

    @classmethod
    def from_file(cls, path: str | Path) -> Level:
        """Read one level from a text file."""
        if not str(path).strip():
            raise LevelError("level file name is empty")
        path = Path(path)
        if path.exists() and not path.is_dir() and not path.is_file():
            raise LevelError(f"level file {path} is not a regular file (a device or a pipe?)")
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise LevelError(f"level file {path} is {path.stat().st_size:,} bytes; a level is text")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except IsADirectoryError:
            raise LevelError(f"level file {path} is a folder, not a file") from None
        except OSError as e:
            raise LevelError(f"cannot read level file {path}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise LevelError(
                f"{path}: not a text level file (byte {e.start + 1} is not UTF-8)"
            ) from None
        try:
            return cls.from_str(text)
        except LevelError as e:
            raise LevelError(f"{path}: {e}") from None

    @classmethod
    def from_array(cls, codes: np.ndarray) -> Level:
        """Inverse of `to_array`: uint8[H, W] character codes to a Level."""
        return cls(tuple(bytes(row).decode("ascii") for row in np.asarray(codes, np.uint8)))

    def to_array(self) -> np.ndarray:
        """uint8[H, W] of ASCII codes: the form the batched engine loads."""
        return np.frombuffer("".join(self.rows).encode("ascii"), np.uint8).reshape(self.shape)

    def to_str(self) -> str:
        return "\n".join(self.rows)

    def __str__(self) -> str:
        return self.to_str()

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])

    def count(self, char: str) -> int:
        return sum(row.count(char) for row in self.rows)

    def find(self, char: str) -> list[tuple[int, int]]:
        """(row, col) of every occurrence of `char`, in reading order."""
        return [(r, c) for r, row in enumerate(self.rows) for c, ch in enumerate(row) if ch == char]


def check_level(level: Level, legend: Mapping[str, str], task: str) -> Level:
    """Validate `level` against a task's legend: known characters, wall border, one agent.

    Returns the level unchanged, or raises LevelError naming the line and column.
    """
    height, width = level.shape
    if height < 3 or width < 3:
        raise LevelError(f"{task} level is {height}x{width}; at least 3x3 is needed")
    for r, row in enumerate(level.rows):
        for c, ch in enumerate(row):
            if ch not in legend:
                known = " ".join(repr(k) for k in legend)
                raise LevelError(
                    f"line {r + 1}, column {c + 1}: unknown character {ch!r} for {task} "
                    f"(legend: {known})"
                )
            on_border = r in (0, height - 1) or c in (0, width - 1)
            if on_border and ch != WALL:
                raise LevelError(
                    f"line {r + 1}, column {c + 1}: {ch!r} on the border; "
                    f"a level is enclosed by walls {WALL!r}"
                )
    agents = level.find(AGENT)
    if not agents:
        raise LevelError(f"no agent {AGENT!r} in the level")
    if len(agents) > 1:
        (r, c) = agents[1]
        raise LevelError(
            f"line {r + 1}, column {c + 1}: second agent {AGENT!r}; exactly one allowed"
        )
    return level
