"""Progress of `mesaworld analyze` on stderr: `StageClock` (wall seconds per stage of one run)
and `AnalysisProgress` (a status line on a terminal; a line per finished run with its stage
times, the time elapsed and the time left)."""

from __future__ import annotations

import sys
import time
from pathlib import Path


class StageClock:
    """Wall seconds per stage of one run's analysis; `notify(stage)` hears each stage start."""

    def __init__(self, notify=None) -> None:
        self.seconds: dict[str, float] = {}
        self._notify, self._stage, self._t = notify, None, time.perf_counter()

    def start(self, stage: str | None) -> None:
        """End the stage under way (if any) and start `stage` (None: stop)."""
        now = time.perf_counter()
        if self._stage is not None:
            self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + now - self._t
        self._stage, self._t = stage, now
        if stage is not None and self._notify is not None:
            self._notify(stage)


class AnalysisProgress:
    """Progress on stderr. On a terminal, a status line for the stage under way, from the first
    second; everywhere, a line per finished run: its time by stage, the time elapsed and an
    estimate of the time left (the mean per run so far; later runs of a task reuse its
    exports, so the estimate errs long). Nothing before a run succeeds but the status line,
    which an error clears: errors stay one line."""

    def __init__(self, n_runs: int, settings, stream=None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.n, self.done, self.name, self.settings = n_runs, 0, "", settings
        self.t0 = self.t_run = time.perf_counter()

    def begin(self, run: Path) -> StageClock:
        self.name, self.t_run = run.name, time.perf_counter()
        return StageClock(self._stage)

    def _stage(self, stage: str) -> None:
        budget = f", state budget {self.settings.max_states:,}" if "export" in stage else ""
        took = time.perf_counter() - self.t_run
        took = f" ({took:.0f} s in)" if took >= 1 else ""
        self.status(f"[{self.done + 1}/{self.n}] {self.name}: {stage}{budget} ...{took}")

    def status(self, text: str) -> None:
        if self.live:
            self._write(f"\r\033[K{text}")

    def clear(self) -> None:
        if self.live:
            self._write("\r\033[K")

    def end(self, seconds: dict[str, float]) -> None:
        self.done += 1
        now = time.perf_counter()
        elapsed, took = now - self.t0, now - self.t_run
        left = elapsed / self.done * (self.n - self.done)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if v >= 0.05)
        self.clear()
        self._write(
            f"[{self.done}/{self.n}] {self.name}: {took:.1f} s ({stages}); elapsed "
            f"{_duration(elapsed)}, about {_duration(left)} left\n"
        )

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
