"""Fault injection: SIGKILL at several points of train, eval, baselines and sweep, and two commands
racing into one folder. After each kill the folder holds the previous complete state or an
incomplete one (never a mix), and running the command again completes it to exactly the numbers
an uninterrupted run gives."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "mesaworld.experiments.cli.main"]
TRAIN = ["train", "roomba-tiny", "--total-steps", "24576", "--checkpoint-every", "2"]
TRAIN += ["--eval-levels", "24", "--quiet"]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> bool:
    """SIGKILL the process group once `ready()` is true; False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the kill point was never reached")


def _digest(run: Path) -> dict[str, str]:
    """What a run's results are: episodes, the log without timings, the evaluation arrays."""
    out = {"episodes.csv": hashlib.sha256((run / "episodes.csv").read_bytes()).hexdigest()}
    if (run / "train_log.csv").is_file():
        log = pd.read_csv(run / "train_log.csv").drop(columns=["time/seconds", "time/sps"])
        out["train_log.csv"] = hashlib.sha256(log.to_csv().encode()).hexdigest()
    for npz in sorted(run.glob("eval_*.npz")):
        out[npz.name] = hashlib.sha256(npz.read_bytes()).hexdigest()
    return out


def _consistent_or_incomplete(run: Path, reference: dict[str, str] | None) -> None:
    """After a kill: either no episodes.csv (incomplete: the command redoes it), or the complete
    reference state, file for file."""
    if (run / "episodes.csv").is_file() and reference is not None:
        assert _digest(run) == reference


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    assert _run([*TRAIN, "--out", str(root / "run")]).returncode == 0
    assert _run(["baselines", "roomba", "--root", str(root), "--levels", "24"]).returncode == 0
    return root


@pytest.mark.parametrize(
    "point",
    ["config written", "first checkpoint", "third checkpoint", "agent saved"],
)
def test_train_killed_then_resumed_gives_the_uninterrupted_numbers(reference, tmp_path, point):
    run = tmp_path / "run"
    ready = {
        "config written": lambda: (run / "config.json").is_file(),
        "first checkpoint": lambda: (run / "train_state.pt").is_file(),
        "third checkpoint": lambda: _log_rows(run) >= 6,
        "agent saved": lambda: (run / "agent.pt").is_file(),
    }[point]
    assert _kill_when(_start([*TRAIN, "--out", str(run)]), ready)
    assert not (run / "episodes.csv").is_file()
    done = _run([*TRAIN, "--out", str(run), "--resume"])
    assert done.returncode == 0, done.stderr
    assert _digest(run) == _digest(reference / "run")


def _log_rows(run: Path) -> int:
    try:
        return len((run / "train_log.csv").read_text().splitlines()) - 1
    except OSError:
        return 0


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.85, 0.97])
def test_eval_killed_leaves_the_old_evaluation_or_none(reference, tmp_path, fraction):
    run = tmp_path / "run"
    _copy(reference / "run", run)
    want = _digest(run)
    start = time.monotonic()
    assert _run(["eval", str(run), "--quiet"]).returncode == 0
    took = time.monotonic() - start
    proc = _start(["eval", str(run), "--quiet"])
    begun = time.monotonic()
    killed = _kill_when(proc, lambda: time.monotonic() - begun > fraction * took)
    _consistent_or_incomplete(run, want)
    assert _run(["eval", str(run), "--quiet"]).returncode == 0
    assert _digest(run) == want, f"killed={killed}"
    assert not list(run.glob(".*.tmp"))  # the next command cleared what the kill left


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_baselines_killed_then_rerun_complete_identically(reference, tmp_path, fraction):
    args = ["baselines", "roomba", "--root", str(tmp_path), "--levels", "24"]
    start = time.monotonic()
    assert _run(args).returncode == 0
    took = time.monotonic() - start
    for folder in tmp_path.glob("baseline_*"):
        _remove(folder)
    proc = _start(args)
    begun = time.monotonic()
    _kill_when(proc, lambda: time.monotonic() - begun > fraction * took)
    for folder in tmp_path.glob("baseline_*"):
        _consistent_or_incomplete(folder, _digest(reference / folder.name))
    done = _run(args)
    assert done.returncode == 0, done.stderr
    for folder in reference.glob("baseline_*"):
        assert _digest(tmp_path / folder.name) == _digest(folder)


def test_sweep_killed_in_its_baselines_and_in_training_resumes(tmp_path):
    args = ["sweep", "roomba-tiny", "--knob", "0,0.5", "--seeds", "1", "--workers", "1"]
    args += ["--total-steps", "16384", "--out", str(tmp_path / "s"), "--quiet"]
    sweep = tmp_path / "s"
    assert _kill_when(_start(args), lambda: len(list(sweep.glob("baseline_*/config.json"))) >= 1)
    assert _kill_when(
        _start(args), lambda: (sweep / "roomba-tiny_knob0_seed0" / "train_state.pt").is_file()
    )
    done = _run(args)
    assert done.returncode == 0, done.stderr
    runs = sorted(p.parent.name for p in sweep.glob("*/episodes.csv"))
    assert runs == [
        "baseline_roomba_nearest_floor_dust",
        "baseline_roomba_nearest_visible_dust",
        "baseline_roomba_random",
        "roomba-tiny_knob0.5_seed0",
        "roomba-tiny_knob0_seed0",
    ]
    clean = tmp_path / "clean"
    assert _run([*args[:-3], "--out", str(clean), "--quiet"]).returncode == 0
    for run in runs:
        assert _digest(sweep / run) == _digest(clean / run), run


def test_two_trainings_racing_into_one_folder_never_mix(reference, tmp_path):
    for trial in range(3):
        run = tmp_path / f"race{trial}"
        procs = [_start([*TRAIN, "--seed", str(s), "--out", str(run)]) for s in (0, 1)]
        codes = [p.wait(timeout=600) for p in procs]
        errors = [p.stderr.read().decode() for p in procs]
        assert sorted(codes) == [0, 2], (codes, errors)
        loser = errors[codes.index(2)]
        assert loser.count("\n") == 1 and (
            "in use by another" in loser or "already exists" in loser
        )
        winner = codes.index(0)
        if winner == 0:
            assert _digest(run) == _digest(reference / "run")
        config = (run / "config.json").read_text()
        assert f'"seed": {winner}' in config


# A second command whose interpreter has started and imported the command line before the first
# holds the folder, then runs the command when told to (a line on stdin): the first needs to
# outlast only the second's own check, not an interpreter start-up (~5 s on a busy machine).
SECOND = (
    "import sys; from mesaworld.experiments.cli.main import main; print('ready', flush=True); "
    "sys.stdin.readline(); sys.exit(main(sys.argv[1:]))"
)


def test_two_identical_sweeps_into_one_folder_one_refuses(tmp_path):
    args = ["sweep", "roomba-tiny", "--knob", "0", "--seeds", "1", "--workers", "1"]
    args += ["--total-steps", "32768", "--out", str(tmp_path / "s"), "--quiet"]  # ~3 s training
    second = subprocess.Popen([sys.executable, "-c", SECOND, *args], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert second.stdout.readline() == "ready\n", second.stderr.read()
    first = _start(args)
    sweep = tmp_path / "s"
    end = time.monotonic() + 120
    while not list(sweep.glob("baseline_*/config.json")):  # the first holds the folder now
        assert first.poll() is None and time.monotonic() < end
        time.sleep(0.01)
    out, err = second.communicate("go\n", timeout=120)
    assert first.poll() is None  # the first still held the folder when the second was refused
    assert second.returncode == 2 and err.count("\n") == 1, err
    assert "in use by another mesaworld command" in err
    assert first.wait(timeout=600) == 0
    assert len(list(sweep.glob("*/episodes.csv"))) == 4
    assert _run(args).returncode == 0  # afterwards: everything finished, nothing to do


def _copy(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name != ".lock":
            (dst / f.name).write_bytes(f.read_bytes())


def _remove(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            f.unlink()
    for d in sorted(folder.rglob("*"), reverse=True):
        d.rmdir()
    folder.rmdir()
