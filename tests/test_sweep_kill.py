"""Stopping a multi-worker sweep stops its workers. SIGKILL to the sweep process alone leaves no
orphan (the kernel ends the workers, and the resource tracker follows); SIGTERM to it, or SIGINT
to its process group (Ctrl-C), ends the workers and fails in one line. Either way no lock is
left and the same command run again resumes and finishes every run.

The former children are collected from /proc before the signal and identified by (pid, start
time), so a reused pid is not taken for a survivor; a zombie counts as gone (it holds no lock
and trains nothing; reaping an orphan is its new parent's business)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mesaworld.analysis.storage import exclusive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc (Linux)"),
]

CLI = [sys.executable, "-m", "mesaworld.experiments.cli.main"]
# 24 updates per run, a checkpoint every 2 (the preset's): a few seconds of training per run
SWEEP = ["sweep", "roomba-tiny", "--seeds", "2", "--workers", "2", "--total-steps", "24576"]
SWEEP += ["--quiet"]
RUNS = ("roomba-tiny_knob0_seed0", "roomba-tiny_knob0_seed1")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, None if there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def _children(parent: int) -> dict[tuple[int, int], str]:
    """{(pid, start time): command line} of the processes whose parent is `parent`."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None or stat[0] != parent:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        out[(int(entry.name), stat[2])] = cmd
    return out


def _alive(children) -> list[str]:
    """The children that still run (a zombie or a reused pid is gone)."""
    left = []
    for (pid, start), cmd in children.items():
        stat = _stat(pid)
        if stat is not None and stat[1] != "Z" and stat[2] == start:
            left.append(f"{pid} {cmd[:90]}")
    return left


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader: orphans included
    proc.wait()


def _wait_for_training(proc: subprocess.Popen, out: Path, timeout: float = 180.0) -> dict:
    """Once both runs have a checkpoint and are still training, the sweep's children."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, f"the sweep ended before the signal: {proc.stderr.read()}"
        if all((out / run / "train_state.pt").is_file() for run in RUNS) and not any(
            (out / run / "episodes.csv").exists() for run in RUNS
        ):
            children = _children(proc.pid)
            workers = [c for c in children.values() if "spawn_main" in c]
            if len(workers) == 2:
                return children
        time.sleep(0.02)
    raise AssertionError("the two workers were never seen training")


def _rerun_finishes(out: Path) -> None:
    rerun = subprocess.Popen(
        [*CLI, *SWEEP, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = rerun.communicate(timeout=300)
    finally:
        _kill_group(rerun)
    assert rerun.returncode == 0, err[-2000:]
    names = sorted(p.name for p in out.iterdir() if p.name.startswith("roomba-tiny_"))
    assert names == sorted(RUNS)
    for run in RUNS:
        folder = out / run
        assert (folder / "episodes.csv").is_file() and not (folder / "train_state.pt").exists()
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT to the group"])
def test_a_stopped_sweep_leaves_no_worker_and_the_rerun_finishes(tmp_path, how):
    out = tmp_path / "sweep"
    proc = subprocess.Popen(
        [*CLI, *SWEEP, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        children = _wait_for_training(proc, out)
        kinds = sorted("worker" if "spawn_main" in c else "other" for c in children.values())
        # two workers, and multiprocessing's resource tracker
        assert kinds == ["other", "worker", "worker"], children
        if how == "SIGKILL":
            os.kill(proc.pid, signal.SIGKILL)  # the sweep alone: no chance to clean up
        elif how == "SIGTERM":
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        end = time.monotonic() + 10
        while _alive(children) and time.monotonic() < end:
            time.sleep(0.05)
        assert not _alive(children), f"still running 10 s after {how}: {_alive(children)}"
        _, err = proc.communicate(timeout=30)
        if how == "SIGKILL":
            assert proc.returncode == -signal.SIGKILL
        else:
            name = how.split()[0]
            assert proc.returncode == 2
            lines = err.strip().splitlines()
            assert len(lines) == 1 and f"sweep stopped by {name}" in lines[0], err[-2000:]
            assert "run the same command again to resume" in lines[0]
        # the kill landed mid-training, and every lock went with its process
        assert not any((out / run / "episodes.csv").exists() for run in RUNS)
        for folder in (out, *(out / run for run in RUNS)):
            with exclusive(folder, "test"):
                pass
    finally:
        _kill_group(proc)
    _rerun_finishes(out)
