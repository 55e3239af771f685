"""Saving figures: png + pdf, each written atomically (the run folder's writer)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

from mesaworld.analysis.runfolder import atomic_write_bytes


def save_figure(fig, path: Path) -> list[Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in (".png", ".pdf"):
        target = path.with_suffix(ext)
        buf = io.BytesIO()
        fig.savefig(buf, format=ext[1:], dpi=150, bbox_inches="tight")
        atomic_write_bytes(target, buf.getvalue())
        out.append(target)
    plt.close(fig)
    return out
