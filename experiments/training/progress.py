"""Progress: of a training run, on stderr a one-line bar on a terminal, a line per ~10% in logs,
optionally TensorBoard (`--tensorboard true`, the optional tensorboard package); of a batch of
jobs (sweeps, experiments, analyses), a line per finished job with the time left (`job_line`)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from mesaworld.experiments.training.config import ConfigError


def job_line(done: int, total: int, start: float, name: str) -> str:
    """ "[3/10] <name> (42 s; ~98 s left)": a finished job of a batch, the time since `start`
    (a `time.perf_counter()` value) and the rest estimated at the mean time per job so far."""
    elapsed = time.perf_counter() - start
    left = elapsed / done * (total - done) if done else float("nan")
    rest = f"; ~{left:.0f} s left" if done < total and math.isfinite(left) else ""
    return f"[{done}/{total}] {name} ({elapsed:.0f} s{rest})"


class Progress:
    """A one-line progress bar on a terminal; a line per ~10% elsewhere; nothing when quiet."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet = total, quiet
        self.tty = sys.stderr.isatty()
        self.next_mark = 0.0

    def show(self, step: int, row: dict | None) -> None:
        if self.quiet:
            return
        frac = step / self.total if self.total else 1.0
        if not self.tty and frac < self.next_mark:
            return
        self.next_mark = frac + 0.1
        ret = row.get("charts/episodic_return", float("nan")) if row else float("nan")
        ret_text = f"{ret:5.2f}" if math.isfinite(ret) else "    -"
        sps = row.get("time/sps", 0) if row else 0
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        text = f"[{bar}] {frac:4.0%} {step:,}/{self.total:,} steps  return {ret_text}  {sps:,.0f} steps/s"
        print(
            ("\r" + text) if self.tty else text,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.tty and not self.quiet:
            print(file=sys.stderr)


def tensorboard_writer_class():
    """SummaryWriter, or a ConfigError if the optional tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "tensorboard: logging needs the tensorboard package (pip install tensorboard)"
        ) from None
    return SummaryWriter


def tensorboard(folder: Path):
    return tensorboard_writer_class()(str(folder))
