"""agent.json is checked when a checkpoint loads: options against the architecture's declared
ranges, and the description against the config.json of the run that trained it. An edited
agent.json is one line, exit 2, and the run's evaluation is left as it was."""

from __future__ import annotations

import json
import shutil

import pytest

from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.trainer import train

EVALUATION = ("episodes.csv", "eval.json", "eval_train.npz", "eval_deploy.npz")


# One update each (64 x 16 and, conftest.py's, 16 x 16 steps): the tests need a finished run of each
# architecture, not a skilled one.
@pytest.fixture(scope="module")
def planner(tmp_path_factory):
    kw = {"plan_steps": 3, "eval_levels": 8, "total_steps": 1024}
    cfg = preset("roomba-tiny", network="planner", view="full", **kw)
    return train(cfg, tmp_path_factory.mktemp("planner") / "run", quiet=True)


@pytest.fixture(scope="module")
def recurrent(roomba_recurrent_tiny_run):
    return roomba_recurrent_tiny_run  # (conftest.py: also read by test_probes.py; edit copies)


def _edited(run, tmp_path, edit):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    meta = json.loads((copy / "agent.json").read_text())
    edit(meta)
    (copy / "agent.json").write_text(json.dumps(meta))  # json writes NaN as the token NaN
    return copy, {f: (copy / f).read_bytes() for f in EVALUATION}


def _refused(copy, before, capsys, *words):
    assert main(["eval", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err
    assert {f: (copy / f).read_bytes() for f in EVALUATION} == before  # evaluation untouched


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("plan_steps", 0, ("plan_steps must be in [1, 1000]",)),
        ("plan_steps", -1, ("plan_steps must be in [1, 1000]",)),
        ("plan_steps", 1.5, ("plan_steps must be an integer",)),
        ("plan_steps", 10**9, ("plan_steps must be in [1, 1000]",)),
        ("plan_gamma", float("nan"), ("plan_gamma must be finite",)),
        ("plan_gamma", 5, ("plan_gamma must be in (0, 1)",)),
        ("plan_gamma", -1, ("plan_gamma must be in (0, 1)",)),
        ("coords", "yes", ("coords must be true or false",)),
        ("depth", 3, ("planner has no option 'depth'",)),
    ],
)
def test_planner_options_out_of_range_are_refused(planner, tmp_path, capsys, option, value, words):
    copy, before = _edited(planner, tmp_path, lambda m: m["planner"].__setitem__(option, value))
    _refused(copy, before, capsys, "agent.json", *words)


def test_a_valid_option_that_differs_from_the_config_is_refused(planner, tmp_path, capsys):
    # plan_steps 10 is a fine value, but not the agent this run trained (K = 3)
    copy, before = _edited(planner, tmp_path, lambda m: m["planner"].__setitem__("plan_steps", 10))
    _refused(copy, before, capsys, "plan_steps 10 disagrees with config.json (3)")


def test_recurrent_ticks_far_out_of_range_are_refused_at_once(recurrent, tmp_path, capsys):
    copy, before = _edited(
        recurrent, tmp_path, lambda m: m["recurrent"].__setitem__("ticks", 10**9)
    )
    _refused(copy, before, capsys, "ticks must be in [1, 100]")


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("hidden", 100000, ("field 'hidden' is missing or invalid",)),
        ("task", "cheese-maze", ("task 'cheese-maze' disagrees with config.json ('roomba')",)),
        ("obs_shape", [5, 11, 11], ("obs_shape [5, 11, 11] is not the roomba task's full view",)),
        ("view", "egocentric", ("planner network cannot take the egocentric view",)),
        ("network", "cnn", ("network 'cnn' disagrees with config.json ('planner')",)),
    ],
)
def test_agent_json_that_disagrees_with_the_run_is_refused(
    planner, tmp_path, capsys, field, value, words
):
    copy, before = _edited(planner, tmp_path, lambda m: m.__setitem__(field, value))
    _refused(copy, before, capsys, *words)


def test_thinking_time_refuses_an_absurd_budget_before_evaluating(planner, capsys):
    assert main(["probe", "thinking-time", str(planner), "--steps", "1,1000000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plan_steps must be in [1, 1000]" in err
