"""Sweeps: the grid, scheduling-independent results, kill-and-resume with nothing lost or doubled."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from mesaworld.analysis.runfolder import RunFolderError
from mesaworld.experiments.training.config import ConfigError
from mesaworld.experiments.training.sweep import run_sweep, sweep_configs
from mesaworld.experiments.training.trainer import train


def _same_run(a, b):
    for name in ("episodes.csv", "train_log.csv"):
        x, y = pd.read_csv(a / name), pd.read_csv(b / name)
        keep = [c for c in x.columns if not c.startswith("time/")]  # wall clock differs
        pd.testing.assert_frame_equal(x[keep], y[keep])


def test_grid_is_knob_major_and_validated():
    cfgs = sweep_configs("roomba-tiny", [0.0, 0.5], 3, workers=2)
    assert [(c.knob, c.seed) for c in cfgs] == [(k, s) for k in (0.0, 0.5) for s in range(3)]
    assert len({c.torch_threads for c in cfgs}) == 1
    with pytest.raises(ConfigError, match="seeds"):
        sweep_configs("roomba-tiny", [0.0], 0)
    with pytest.raises(ConfigError, match="repeat"):
        sweep_configs("roomba-tiny", [0.0, 0.0], 1)
    with pytest.raises(ConfigError, match="knob: must be in"):
        sweep_configs("roomba-tiny", [3.0], 1)


def test_parallel_and_sequential_sweeps_write_identical_runs(tmp_path):
    small = {"torch_threads": 1, "total_steps": 2048, "eval_levels": 8}  # 2 updates per run
    cfgs = sweep_configs("roomba-tiny", [0.0], 2, workers=2, **small)
    a = run_sweep(cfgs, tmp_path / "a", workers=2, quiet=True, baselines=False)
    b = run_sweep(cfgs, tmp_path / "b", workers=1, quiet=True, baselines=False)
    for x, y in zip(a, b):
        _same_run(x, y)
    # run again: everything is finished, nothing is retrained or rewritten
    stamp = [(r / "episodes.csv").stat().st_mtime_ns for r in a]
    assert run_sweep(cfgs, tmp_path / "a", workers=2, quiet=True, baselines=False) == a
    assert [(r / "episodes.csv").stat().st_mtime_ns for r in a] == stamp
    # the same folders under another budget are not "finished": the sweep names the difference
    other = sweep_configs("roomba-tiny", [0.0], 2, workers=2, **{**small, "total_steps": 4096})
    with pytest.raises(RunFolderError, match="total_steps=2048, this config has total_steps=4096"):
        run_sweep(other, tmp_path / "a", workers=2, quiet=True, baselines=False)


@pytest.mark.slow
def test_killed_sweep_resumes_with_no_duplicate_missing_or_changed_run(tmp_path):
    out = tmp_path / "sweep"
    argv = ["sweep", "roomba-tiny", "--knob", "0,0.5", "--seeds", "2", "--workers", "1"]
    argv += ["--total-steps", "16384", "--out", str(out), "--quiet"]
    code = (
        "import sys; from mesaworld.experiments.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], start_new_session=True)
    victim = None
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            finished = list(out.glob("roomba-tiny_*/episodes.csv"))
            mid = [
                p.parent
                for p in out.glob("roomba-tiny_*/train_state.pt")
                if not (p.parent / "episodes.csv").exists()
            ]
            if finished and mid:
                victim = mid[0]
                os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert victim is not None, "the sweep ended before it could be killed mid-run"
    assert not (victim / "episodes.csv").exists()
    cfgs = sweep_configs("roomba-tiny", [0.0, 0.5], 2, workers=1, total_steps=16384)
    runs = run_sweep(cfgs, out, workers=1, quiet=True)
    names = sorted(p.name for p in out.iterdir() if p.name.startswith("roomba-tiny_"))
    assert names == sorted(r.name for r in runs) and len(names) == 4  # none missing, none doubled
    for r in runs:
        assert (r / "episodes.csv").is_file() and not (r / "train_state.pt").exists()
        assert not [p for p in r.iterdir() if p.name.endswith(".tmp")]
    # a knob grid gets the knob-curve figure beside the usual ones
    from mesaworld.analysis.figures import plot_all

    names = {p.name for p in plot_all(out, quiet=True)}
    assert {"knob_curve_roomba.png", "knob_curve_roomba.pdf", "reward_result_gap.png"} <= names
    # the killed-and-resumed run has exactly the numbers of an uninterrupted one
    cfg = next(c for c, r in zip(cfgs, runs) if r == victim)
    _same_run(victim, train(cfg, tmp_path / "clean", quiet=True))


@pytest.mark.slow
def test_ray_backend_writes_the_same_runs_and_keeps_its_files_in_the_sweep(tmp_path):
    """Against a private local Ray instance, through the CLI (a fresh process, HOME moved to
    an empty folder): the run folders equal the local backend's, and Ray's session files and
    auth token are under <sweep>/.ray, nothing in HOME."""
    pytest.importorskip("ray", reason="the optional ray extra is part of the dev install")
    argv = ["sweep", "roomba-tiny", "--knob", "0", "--seeds", "2", "--workers", "2", "--quiet"]
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    code = (
        "import sys; from mesaworld.experiments.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    ray_out = tmp_path / "ray"

    def ray_sweep():
        done = subprocess.run(
            [sys.executable, "-c", code, *argv, "--backend", "ray", "--out", str(ray_out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]

    ray_sweep()
    cfgs = sweep_configs("roomba-tiny", [0.0], 2, workers=2)
    local = run_sweep(cfgs, tmp_path / "local", workers=2, quiet=True)
    for run in local:
        _same_run(run, ray_out / run.name)
    assert (ray_out / ".ray" / "auth_token").is_file()
    assert any(p.name.startswith("session_") for p in (ray_out / ".ray").iterdir())
    assert not (home / ".ray").exists()  # (matplotlib may cache fonts in HOME; Ray may not)
    # Rerun: everything is finished, Ray trains nothing.
    stamp = (ray_out / local[0].name / "episodes.csv").stat().st_mtime_ns
    ray_sweep()
    assert (ray_out / local[0].name / "episodes.csv").stat().st_mtime_ns == stamp


def test_backend_errors_are_one_line(tmp_path):
    from mesaworld.experiments.cli.main import main

    cfgs = sweep_configs("roomba-tiny", [0.0], 1)
    with pytest.raises(ConfigError, match="backend: must be one of local, ray"):
        run_sweep(cfgs, tmp_path, backend="dask", quiet=True)
    with pytest.raises(ConfigError, match="address: only used with --backend ray"):
        run_sweep(cfgs, tmp_path, address="ray://x:1", quiet=True)
    pytest.importorskip("ray", reason="the optional ray extra is part of the dev install")
    with pytest.raises(ConfigError, match="address: cannot reach the Ray cluster at 127.0.0.1:1"):
        run_sweep(cfgs, tmp_path / "s", backend="ray", address="127.0.0.1:1", quiet=True)
    assert not (tmp_path / "s").exists()  # refused before any work: no baselines, no folder
    with pytest.raises(ConfigError, match="address: expected host:port"):
        run_sweep(cfgs, tmp_path, backend="ray", address="nonsense", quiet=True)
    with pytest.raises(SystemExit):  # argparse: one line, exit 2
        main(["sweep", "roomba-tiny", "--backend", "dask"])
