"""Wall time of the experiments at their defaults, each a whole process as a user runs it, alone
and beside a busy core (issue 23's target: each <= 10 min on 2 cores beside one other job).

    python benchmarks/experiment_wall_time.py                      # all four, alone and busy (~1-2 h)
    python benchmarks/experiment_wall_time.py --only e04,cheese --load busy
    python benchmarks/experiment_wall_time.py --only e06 --extra=--seeds=2   # a quick look

The experiments: e04 (suboptimality), e05 (in-context), e06 (approximate), each
`python -m mesaworld.experiments.<script> --out <temp>` at its defaults; and the cheese sweep,
`mesaworld sweep cheese-maze-planner --knob 1 --seeds 5 --workers 2` (5 seeds of the K = 50
planner on 13x13 mazes). "busy": a `python -c 'while True: pass'` process holds one core for the
whole run. Each line: wall time, the 1-min load average before and after, the verdict against 10
min. The busy-core process and the experiment's process group are killed when this script ends,
also on Ctrl-C or SIGTERM; every run writes into a fresh temp folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TARGET_S = 600.0
EXPERIMENTS = {
    "e04": [sys.executable, "-m", "mesaworld.experiments.e04_suboptimality"],
    "e05": [sys.executable, "-m", "mesaworld.experiments.e05_in_context"],
    "e06": [sys.executable, "-m", "mesaworld.experiments.e06_approximate"],
    "cheese": [sys.executable, "-m", "mesaworld.experiments.cli.entry", "sweep"]
    + ["cheese-maze-planner", "--knob", "1", "--seeds", "5", "--workers", "2"],
}
_children: list[subprocess.Popen] = []


def _kill_children(*_: object) -> None:
    for proc in _children:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    _children.clear()


def _on_signal(signum: int, _frame: object) -> None:
    _kill_children()
    sys.exit(128 + signum)


def run_one(name: str, load: str, extra: list[str]) -> tuple[float, int, float, float]:
    """(wall seconds, exit code, load before, load after) of one experiment in a temp folder."""
    out = tempfile.mkdtemp(prefix=f"mw-{name}-")
    busy = None
    if load == "busy":
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        _children.append(busy)
        time.sleep(1.0)
    before = os.getloadavg()[0]
    cmd = EXPERIMENTS[name] + ["--out", f"{out}/out"] + extra
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    _children.append(proc)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    after = os.getloadavg()[0]
    _kill_children()
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no stderr)"]
        print(f"  {name} exited {proc.returncode}: {tail[0]}", file=sys.stderr)
    return wall, proc.returncode, before, after


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated: e04,e05,...")
    p.add_argument("--load", default="alone,busy", help="alone, busy or both (comma-separated)")
    p.add_argument("--extra", default="", help="extra arguments for every command (a quick look)")
    args = p.parse_args()
    names = [n for n in args.only.split(",") if n]
    loads = [x for x in args.load.split(",") if x]
    for n in names:
        if n not in EXPERIMENTS:
            sys.exit(f"--only: unknown experiment {n!r} (choose from {', '.join(EXPERIMENTS)})")
    for x in loads:
        if x not in ("alone", "busy"):
            sys.exit(f"--load: {x!r} is neither 'alone' nor 'busy'")
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    extra = args.extra.split() if args.extra else []
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{'experiment':<10} {'load':<6} {'wall':>8}  {'load avg before/after':>22}  target 10 min"
    )
    failed = False
    try:
        for name in names:
            for load in loads:
                wall, code, before, after = run_one(name, load, extra)
                verdict = "FAILED" if code else ("met" if wall <= TARGET_S else "missed")
                failed = failed or code != 0
                print(
                    f"{name:<10} {load:<6} {wall / 60:>6.1f} min  {before:>9.2f} / {after:<10.2f}"
                    f"  {verdict}",
                    flush=True,
                )
    finally:
        _kill_children()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
