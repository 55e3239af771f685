"""`mesaworld publish SRC DEST`: a committed copy of a folder of finished runs holds what analysis
reads and nothing else, reads back to the same summaries, is made whole or not at all, and
refuses in one line what it cannot do (an unfinished run, an existing DEST, a busy SRC)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mesaworld.analysis import publish as publish_module
from mesaworld.analysis.metrics import run_summary
from mesaworld.analysis.publish import PublishError, publish
from mesaworld.analysis.runs import load_runs
from mesaworld.analysis.storage import exclusive
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training.baselines import write_baselines
from mesaworld.experiments.training.evaluate import EvalSettings


@pytest.fixture
def sweep(tmp_path, roomba_planner_tiny_run) -> Path:
    """A small sweep-like folder: one trained run (weights, training state, figures), its
    baselines, a readout table and a drawn figure beside it."""
    root = tmp_path / "sweep"
    shutil.copytree(roomba_planner_tiny_run, root / "run0")
    cfg = json.loads((root / "run0" / "config.json").read_text())
    write_baselines("roomba", root, EvalSettings(cfg["eval"]["eval_seed"], cfg["eval"]["levels"]))
    (root / "readout").mkdir()
    (root / "readout" / "readout.csv").write_text("run,ratio\nrun0,1.0\n")
    (root / "readout" / "maps.png").write_bytes(b"png")
    (root / "run0" / "probes").mkdir(exist_ok=True)
    (root / "run0" / "probes" / "thinking_time.csv").write_text("budget\n1\n")
    (root / "run0" / "probes" / "thinking_time.png").write_bytes(b"png")
    return root


def test_the_copy_holds_what_analysis_reads_and_reads_back_the_same(sweep, tmp_path, capsys):
    dest = tmp_path / "docs" / "published"
    assert main(["publish", str(sweep), str(dest)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("published 4 runs") and "left out" in out
    names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert "run0/agent.pt" in {p.relative_to(sweep).as_posix() for p in sweep.rglob("*")}
    assert not any(n.endswith((".pt", ".png", ".pdf", ".lock", ".gif")) for n in names), names
    assert {"run0/config.json", "run0/episodes.csv", "run0/train_log.csv"} <= names
    assert {"readout/readout.csv", "run0/probes/thinking_time.csv"} <= names
    assert not any(n.startswith("run0/figures") for n in names)
    again = run_summary(load_runs(dest))
    first = run_summary(load_runs(sweep))
    assert again.equals(first)
    for name in names:  # byte for byte
        assert (dest / name).read_bytes() == (sweep / name).read_bytes(), name


def test_bad_requests_are_refused_in_one_line_and_write_nothing(sweep, tmp_path, capsys):
    dest = tmp_path / "out"
    dest.mkdir()
    assert main(["publish", str(sweep), str(dest)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["publish", str(tmp_path / "nothing"), str(tmp_path / "o2")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["publish", str(sweep), str(sweep / "inside")]) == 2
    assert "lies inside" in capsys.readouterr().err
    (sweep / "half").mkdir()
    shutil.copy(sweep / "run0" / "config.json", sweep / "half" / "config.json")
    assert main(["publish", str(sweep), str(tmp_path / "o3")]) == 2
    err = capsys.readouterr().err
    assert "1 run(s)" in err and "half" in err and "not finished" in err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PublishError, match="no run folders"):
        publish(empty, tmp_path / "o4")


def test_a_busy_source_is_refused(sweep, tmp_path):
    busy = pytest.raises(ValueError, match="in use by another mesaworld command")
    with exclusive(sweep, "sweep"), busy:
        publish(sweep, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_copy_cut_short_leaves_no_destination_and_no_temp(sweep, tmp_path, monkeypatch):
    calls = []

    def copy_then_die(a, b):
        calls.append(a)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill between two files
        return shutil.copy2(a, b)

    monkeypatch.setattr(publish_module.shutil, "copy2", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        publish(sweep, tmp_path / "pub")
    assert not (tmp_path / "pub").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pub")] == []


def test_a_copy_killed_before_its_rename_is_cleared_by_the_next(sweep, tmp_path):
    stale = tmp_path / ".pub.abc123.tmp"  # what a kill -9 mid-copy leaves beside DEST
    (stale / "run0").mkdir(parents=True)
    (stale / "run0" / "config.json").write_text("{}")
    publish(sweep, tmp_path / "pub")
    assert not stale.exists() and (tmp_path / "pub" / "run0" / "episodes.csv").is_file()
