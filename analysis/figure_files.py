"""Saving figures: png + pdf, each written atomically (the run folder's writer), and checked for
legibility first (`legibility_problems`): a figure is read alone, so it must say what it shows.

A figure that fails the check is still saved, with a `FigureLegibilityWarning` naming each
problem; the test suite turns that warning into an error, so no figure of the project's own
can fail it unnoticed.

Two helpers keep bar charts honest: `interval_errors` (error bars clipped to the quantity's
possible range) and `mark_bars` ("n/a" for a missing value, never a bar of height 0; the value,
"0" or "0.00", on a bar too short to see).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.image import AxesImage

from mesaworld.analysis.runfolder import atomic_write_bytes

# "n = 5", "n=200 levels", "5 seeds", "one run", "per seed": how many the figure rests on.
COUNT = re.compile(
    r"\bn\s*=\s*\d|\b\d+\s+(seeds?|runs?|levels?|episodes?|agents?)\b|\b(one|single)\s+"
    r"(seed|run|level|episode|agent)\b",
    re.I,
)
# What an interval drawn on the figure is.
INTERVAL = re.compile(r"interval|bootstrap|\bCI\b|\d+\s*%|\bs\.?d\.?\b|std|range|min.max", re.I)


class FigureLegibilityWarning(UserWarning):
    """A figure that would not stand alone (see `legibility_problems`)."""


def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    if getattr(fig, "_suptitle", None) is not None:
        out.append(fig._suptitle.get_text())
    for ax in fig.axes:
        out += [ax.get_title(loc) for loc in ("left", "center", "right")]
        out += [ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
            if legend.get_title() is not None:
                out.append(legend.get_title().get_text())
    return [t for t in out if t]


def _is_colorbar(ax) -> bool:
    return hasattr(ax, "_colorbar") or ax.get_label() == "<colorbar>"


def _has_interval(ax) -> bool:
    if any(isinstance(c, ErrorbarContainer) for c in ax.containers):
        return True
    return any(isinstance(c, PolyCollection) for c in ax.collections)


def legibility_problems(fig) -> list[str]:
    """What keeps `fig` from being read without the text around it, one line each (empty: none).

    Every axes that draws data has an x and a y label, or is a map (an image, axes switched
    off); every image of values (not an RGB picture) has a colour bar (its own, or one it shares with images of the same
    colour map and range); images of one colour map share one range; the figure's text says
    how many it rests on (n = ..., "5 seeds", "one run"); and where intervals are drawn (error
    bars, bands), the text names them.
    """
    problems = []
    # Images of values in a colour map; an RGB(A) picture (a rendered level) has no scale.
    images = [
        im
        for ax in fig.axes
        for im in ax.images
        if isinstance(im, AxesImage) and np.ndim(im.get_array()) == 2
    ]
    with_bar = {(im.get_cmap().name, tuple(im.get_clim())) for im in images if im.colorbar}
    scales: dict[str, set] = {}
    for im in images:
        key = (im.get_cmap().name, tuple(im.get_clim()))
        scales.setdefault(key[0], set()).add(key[1])
        if key not in with_bar:
            problems.append(f"image in axes {im.axes.get_title()!r} has no colour bar")
    for cmap, clims in scales.items():
        if len(clims) > 1:
            problems.append(f"images in colour map {cmap!r} use {len(clims)} different ranges")
    intervals = False
    for i, ax in enumerate(fig.axes):
        if _is_colorbar(ax) or not ax.get_visible():
            continue
        draws = ax.lines or ax.patches or ax.collections or ax.containers
        if ax.images or not draws or not ax.axison:
            continue
        name = ax.get_title() or f"axes {i}"
        if not ax.get_xlabel().strip():
            problems.append(f"{name!r}: no x label")
        if not ax.get_ylabel().strip():
            problems.append(f"{name!r}: no y label")
        intervals = intervals or _has_interval(ax)
    text = "\n".join(_texts(fig))
    if not COUNT.search(text):
        problems.append("no count: say n (seeds, runs, levels) in a title, label or legend")
    if intervals and not INTERVAL.search(text):
        problems.append("intervals drawn but not named (e.g. '95% t-interval over seeds')")
    return problems


def interval_errors(mean, lo, hi, bounds=(-np.inf, np.inf)) -> np.ndarray:
    """float[2, n] error-bar lengths (below, above) of the intervals [lo, hi] around `mean`,
    each end clipped to `bounds`, the quantity's possible range (a rate: (0, 1)); a missing
    end (NaN) is drawn as none."""
    mean = np.asarray(mean, float)
    lo = np.clip(np.asarray(lo, float), *bounds)
    hi = np.clip(np.asarray(hi, float), *bounds)
    below = np.where(np.isfinite(lo) & np.isfinite(mean), mean - lo, 0.0)
    above = np.where(np.isfinite(hi) & np.isfinite(mean), hi - mean, 0.0)
    return np.clip(np.vstack([below, above]), 0.0, None)


def mark_bars(ax, x, heights, fontsize: float = 6.5) -> None:
    """Make bars that draw nothing readable: the text "n/a" where a value is missing (NaN: never
    a bar of height 0), and on a bar too short to see (|height| < 0.005) its value: "0" for
    exactly 0, else "0.00" (its value to two decimals)."""
    for xi, h in zip(np.asarray(x, float), np.asarray(heights, float)):
        if not np.isfinite(h):
            ax.text(xi, 0, "n/a", ha="center", va="bottom", fontsize=fontsize, rotation=90)
        elif abs(h) < 0.005:
            text = "0" if h == 0 else "0.00"
            ax.text(xi, 0, text, ha="center", va="bottom", fontsize=fontsize)


def save_figure(fig, path: Path) -> list[Path]:
    path = Path(path)
    problems = legibility_problems(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in (".png", ".pdf"):
        target = path.with_suffix(ext)
        buf = io.BytesIO()
        # no creation date in a PDF: the same figure gives the same bytes (committed figures
        # regenerate without a diff)
        meta = {"CreationDate": None} if ext == ".pdf" else None
        fig.savefig(buf, format=ext[1:], dpi=150, bbox_inches="tight", metadata=meta)
        atomic_write_bytes(target, buf.getvalue())
        out.append(target)
    plt.close(fig)
    # after saving: a warnings-as-errors setting (the test suite's) still leaves the file to look at
    for problem in problems:
        warnings.warn(f"{path.name}: {problem}", FigureLegibilityWarning, stacklevel=2)
    return out
