"""`mesaworld verdicts` under kill -9 and beside a second command on the same folder: no
half-written verdict file, a rerun completes, and a racing command is refused in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mesaworld.analysis.storage import exclusive
from mesaworld.experiments.cli.main import main
from tests.test_audit import zoo  # noqa: F401  (a fixture: two committed cheese-maze planners)


def _verdicts(zoo_dir: Path, out: Path, instruments: str) -> list[str]:
    return ["verdicts", str(zoo_dir), "--out", str(out), "--instruments", instruments,
            "--levels", "6"]  # fmt: skip


@pytest.mark.slow
def test_kill_9_leaves_no_half_file_and_a_rerun_completes(zoo: Path, tmp_path: Path):  # noqa: F811
    out = tmp_path / "v"
    cmd = [sys.executable, "-m", "mesaworld.experiments.cli.main",
           *_verdicts(zoo, out, "readout,label,probe")]  # fmt: skip
    child = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS="1"))  # fmt: skip
    # kill it once the label instrument is playing (readout.json is done, label.json is not)
    for line in child.stderr:
        if "evaluations" in line:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    for f in out.glob("*.json"):  # whatever was published is whole
        assert json.loads(f.read_text())["verdicts"], f
    assert (out / "readout.json").exists() and not (out / "probe.json").exists()
    assert main(_verdicts(zoo, out, "readout,label,probe")) == 0
    for name in ("readout", "label", "probe"):
        assert set(json.loads((out / f"{name}.json").read_text())["verdicts"]) == {"a0", "a1"}


def test_a_second_command_on_the_same_folder_is_refused(zoo: Path, tmp_path: Path, capsys):  # noqa: F811
    out = tmp_path / "v"
    with exclusive(out, "another verdicts"):
        assert main(_verdicts(zoo, out, "readout")) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use" in err[0]
    assert not (out / "readout.json").exists()
    # the lock is released: the same command now runs
    assert main(_verdicts(zoo, out, "readout")) == 0
