"""The probes on trained runs (tiny ones: no test needs skill): the probe command line on a
planner run, and steering a recurrent run (and refusing an MLP run). Moved from
test_probes.py (whose probes run on hand-coded agents), which had grown past 400 lines."""

from __future__ import annotations

import shutil

import pytest

from mesaworld.experiments.instruments.retarget import retargeting
from mesaworld.experiments.training.evaluate import eval_levels


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, roomba_planner_tiny_run, roomba_recurrent_tiny_run):
    from mesaworld.experiments.training.config import preset
    from mesaworld.experiments.training.trainer import train

    # One update each: no test needs skill. The planner (a copy: the probes write into it) and
    # the recurrent run (16 envs x 16 steps) are conftest.py's, shared with other files.
    root = tmp_path_factory.mktemp("probe_runs")
    planner = shutil.copytree(roomba_planner_tiny_run, root / "p")
    mlp = train(preset("roomba-tiny", total_steps=1024, eval_levels=8), root / "m")
    return planner, roomba_recurrent_tiny_run, mlp


def test_probe_cli_writes_table_figure_and_verdicts(tiny_runs, capsys):
    from mesaworld.experiments.cli.main import main

    planner = tiny_runs[0]
    assert main(["probe", "retarget", str(planner), "--levels", "8"]) == 0
    out = capsys.readouterr().out
    assert "reference optimizer (base): retargetable" in out
    assert "fixed route (memorised actions): not retargetable" in out
    for name in ("retarget.csv", "retarget.png"):
        assert (planner / "probes" / name).is_file()
    assert main(["probe", "basin", str(planner), "--levels", "2"]) != 0  # < 4 levels: refused
    assert "--levels: at least 4" in capsys.readouterr().err


def test_steering_writes_a_goal_into_a_spatial_layer_and_refuses_an_mlp(tiny_runs):
    from mesaworld.experiments.instruments.probe_runner import run_policy
    from mesaworld.experiments.instruments.steering import SteeredPolicy

    _, recurrent, mlp = tiny_runs
    policy, task, seed = run_policy(recurrent)
    codes = eval_levels(task, "deploy", 8, seed)
    steered = SteeredPolicy(policy, task, codes)
    assert steered.layer == "cells.1" and steered.direction.shape == (8,)
    table = retargeting(steered, task, codes)
    assert list(table["condition"]) == ["control", "edited"]
    policy, task, _ = run_policy(mlp)
    with pytest.raises(ValueError, match="no layer is a map over the grid"):
        SteeredPolicy(policy, task, codes)
