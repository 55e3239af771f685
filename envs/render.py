"""Rendering: char grid -> RGB image (headless numpy, no display), ANSI text, and rollout GIFs.

A task's `palette` maps each legend character to (background colour, layers), each layer a
(shape, colour) pair drawn in order; sprites are drawn once per tile size and composed by
indexing, not by a loop over cells.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np

TILE = 16


def _mask(shape: str, t: int) -> np.ndarray:
    """bool[t, t] sprite mask of `shape`."""
    y, x = np.mgrid[0:t, 0:t] + 0.5
    d = np.hypot(y - t / 2, x - t / 2)
    if shape == "square":
        m = np.zeros((t, t), bool)
        m[t // 8 : t - t // 8, t // 8 : t - t // 8] = True
        return m
    if shape == "disc":
        return d <= t * 0.38
    if shape == "ring":
        return (d <= t * 0.36) & (d >= t * 0.24)
    if shape == "core":
        return d <= t * 0.2
    if shape == "dots":
        pts = np.array([[0.3, 0.3], [0.7, 0.35], [0.45, 0.7], [0.25, 0.75], [0.75, 0.75]]) * t
        return np.min(np.hypot(y[..., None] - pts[:, 0], x[..., None] - pts[:, 1]), -1) <= t * 0.09
    raise ValueError(f"unknown sprite shape {shape!r}")


def sprite_sheet(palette: dict, tile: int = TILE) -> tuple[np.ndarray, np.ndarray]:
    """(lookup uint8[256] char code -> sprite index, sprites uint8[n, tile, tile, 3])."""
    lookup = np.zeros(256, np.intp)
    sprites = [np.zeros((tile, tile, 3), np.uint8)]  # index 0: unknown char, black
    for i, (ch, (bg, layers)) in enumerate(palette.items(), start=1):
        img = np.empty((tile, tile, 3), np.uint8)
        img[:] = bg
        for shape, colour in layers:
            img[_mask(shape, tile)] = colour
        lookup[ord(ch)] = i
        sprites.append(img)
    return lookup, np.stack(sprites)


def rgb_from_codes(codes: np.ndarray, sheet: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """uint8[H, W] char codes -> uint8[H*tile, W*tile, 3]."""
    lookup, sprites = sheet
    h, w = codes.shape
    t = sprites.shape[1]
    tiles = sprites[lookup[codes]]  # [H, W, t, t, 3]
    return np.ascontiguousarray(tiles.transpose(0, 2, 1, 3, 4)).reshape(h * t, w * t, 3)


def save_gif(
    frames: Sequence[np.ndarray] | Iterable[np.ndarray], path: str | Path, fps: int = 8
) -> Path:
    """Write RGB frames as a looping GIF, atomically (temp file + os.replace)."""

    frames = [np.asarray(f, np.uint8) for f in frames]
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".gif", dir=path.parent)
    os.close(fd)
    try:
        iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000 / fps, loop=0)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def rollout_gif(env, actions: Iterable[int], path: str | Path, seed: int | None = None) -> Path:
    """Reset `env` (render_mode="rgb_array"), play `actions`, save every frame as a GIF."""
    env.reset(seed=seed)
    frames = [env.render()]
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        frames.append(env.render())
        if term or trunc:
            break
    return save_gif(frames, path, fps=env.metadata.get("render_fps", 8))
