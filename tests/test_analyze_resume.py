"""`mesaworld analyze` killed with SIGKILL resumes per run: runs analysed before the kill are
not analysed again, and the published tables equal an uninterrupted analysis's.

Only the analysis that is killed runs in a process of its own (a SIGKILL needs one); the
uninterrupted analysis and the resumed one run the same command line in this process (saves
two interpreter start-ups, ~9 s)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from mesaworld.analysis.analysis_resume import FOLDER
from mesaworld.experiments.cli.entry import main

SWEEP = Path(__file__).parents[1] / "docs" / "results" / "sweeps" / "cheese-maze-planner"
FILES = ("config.json", "episodes.csv", "eval.json", "eval_deploy.npz", "eval_train.npz")


def _runs(tmp_path: Path, seeds=(0, 1, 2)) -> Path:
    root = tmp_path / "runs"
    for s in seeds:
        name = f"cheese-maze-planner_knob1_seed{s}"
        (root / name).mkdir(parents=True)
        for f in FILES:
            shutil.copyfile(SWEEP / name / f, root / name / f)
    return root


def _argv(root: Path, out: Path) -> list[str]:
    return ["analyze", str(root), "--out", str(out), "--levels", "6"]


def _analyze(root: Path, out: Path, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mesaworld.experiments.cli.entry", *_argv(root, out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_a_killed_analysis_resumes_per_run(tmp_path: Path, capsys):
    root = _runs(tmp_path)
    assert main(_argv(root, tmp_path / "whole")) == 0, capsys.readouterr().err
    capsys.readouterr()
    out = tmp_path / "killed"
    proc = _analyze(root, out)
    cache = out / FOLDER
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(cache.glob("*.npz"))) < 1:
        assert proc.poll() is None, "the analysis ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done = len(list(cache.glob("*.npz")))
    assert 1 <= done < 3 and not (out / "behavioral.csv").exists()
    assert main(_argv(root, out)) == 0, capsys.readouterr().err  # resumed
    assert capsys.readouterr().out.count("(resumed)") == done
    for name in ("behavioral.csv", "attribution.csv"):
        got, want = (pd.read_csv(d / name) for d in (out, tmp_path / "whole"))
        timing = [c for c in want.columns if "seconds" in c]  # wall times differ run to run
        pd.testing.assert_frame_equal(got.drop(columns=timing), want.drop(columns=timing))
    assert not cache.exists()  # removed once the analysis is published


def test_a_changed_evaluation_is_analysed_again(tmp_path: Path):
    from mesaworld.analysis import analysis_resume as resume
    from mesaworld.analysis.behavioral import BehaviorSettings

    root = _runs(tmp_path, seeds=(0,))
    run = root / "cheese-maze-planner_knob1_seed0"
    key = resume.digest(run, root, BehaviorSettings(levels=6))
    assert key != resume.digest(run, root, BehaviorSettings(levels=7))
    episodes = run / "episodes.csv"
    episodes.write_text(episodes.read_text() + "\n")
    assert key != resume.digest(run, root, BehaviorSettings(levels=6))
    (tmp_path / FOLDER).mkdir()
    (tmp_path / FOLDER / f"{key}.npz").write_bytes(b"not an npz")
    assert resume.load(tmp_path, key) is None  # a damaged file is analysed again
