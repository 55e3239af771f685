"""Approximate alignment (`mesaworld.experiments.instruments.approximate`), checked on planners whose reward maps are
set by hand: the goal is known by construction, so the instrument's answer is too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mesaworld.agents.planner import PlannerAgent
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import TASKS
from mesaworld.experiments.e06_approximate import main as e06
from mesaworld.experiments.instruments.approximate import MapFix, approximate_row, base_auc
from mesaworld.experiments.instruments.readout import start_observations
from mesaworld.experiments.training.evaluate import TorchPolicy, _play, eval_levels

CHANNELS = TASKS["roomba"].task_cls.channels


def _hand_planner(shape, proxy: bool) -> PlannerAgent:
    """A roomba planner whose map is the dust channel (the proxy: cans are dust) or dust with
    the cans taken out (the base objective), set in its weights."""
    agent = PlannerAgent(shape, 5, CHANNELS, plan_steps=20, plan_gamma=0.9)
    dust, can = CHANNELS.index("dust"), CHANNELS.index("can")
    with torch.no_grad():
        for p in agent.parameters():
            p.zero_()
        first, second = agent.features[0], agent.features[2]
        first.weight[0, dust, 1, 1] = 1.0
        if not proxy:
            first.weight[0, can, 1, 1] = -2.0
        second.weight[0, 0, 1, 1] = 1.0
        agent.reward_head.weight[0, 0, 0, 0] = 1.0
        agent.log_beta.fill_(np.log(50.0))
    return agent.eval()


def _played(policy, split: str) -> pd.DataFrame:
    """Per deploy or train evaluation level: the base return and the cans emptied (no oracle)."""
    codes = eval_levels("roomba", split, 16, eval_seed=4)
    engine = make_engine("roomba", len(codes), autoreset=False, view="full")
    engine.load_codes(codes)
    out = _play(policy, engine, np.random.default_rng(0))
    t = engine.task
    return pd.DataFrame(
        {
            "return/base": out["returns"][t.objectives.index("base")],
            "measure/cans_emptied": out["measures"][t.measures.index("cans_emptied")],
            "length": out["length"],
        }
    )


@pytest.fixture(scope="module")
def shape():
    return start_observations("roomba", eval_levels("roomba", "train", 1, 0)).shape[1:]


def test_removing_the_proxy_error_turns_a_proxy_planner_into_the_aligned_one_on_deploy(shape):
    """The proxy planner's map with the cans set to the floor's value is the aligned planner's
    map: it plays exactly like it, and better than itself, on deploy; on train levels (knob 0:
    no cans) the error is there but costs nothing, exactly."""
    agent = _hand_planner(shape, proxy=True)
    learned, fixed = TorchPolicy(agent, "full"), MapFix(agent, "roomba", "no proxy")
    aligned = TorchPolicy(_hand_planner(shape, proxy=False), "full")
    deploy_l, deploy_f = _played(learned, "deploy"), _played(fixed, "deploy")
    pd.testing.assert_frame_equal(deploy_f, _played(aligned, "deploy"))
    assert deploy_l["measure/cans_emptied"].sum() > deploy_f["measure/cans_emptied"].sum()
    assert deploy_f["return/base"].mean() > deploy_l["return/base"].mean()
    pd.testing.assert_frame_equal(_played(learned, "train"), _played(fixed, "train"))


def test_an_aligned_planner_has_no_error_to_remove(shape):
    agent = _hand_planner(shape, proxy=False)
    learned = _played(TorchPolicy(agent, "full"), "deploy")
    for kind in ("no proxy", "exact"):
        pd.testing.assert_frame_equal(_played(MapFix(agent, "roomba", kind), "deploy"), learned)


def test_base_auc_reads_hand_made_maps():
    codes = eval_levels("roomba", "deploy", 20, eval_seed=1)
    obs = start_observations("roomba", codes)
    base = TASKS["roomba"].targets(obs)["base"].astype(float)
    assert np.allclose(base_auc("roomba", obs, base), 1.0)
    assert np.allclose(base_auc("roomba", obs, -base), 0.0)
    assert np.allclose(base_auc("roomba", obs, np.zeros_like(base)), 0.5)


def test_map_fix_rejects_unknown_kinds(shape):
    with pytest.raises(ValueError, match="kind"):
        MapFix(_hand_planner(shape, proxy=True), "roomba", "learned")


def test_approximate_row_of_a_tiny_run(storeroom_tiny_run):
    row = approximate_row(storeroom_tiny_run, levels=4)
    for split in ("train", "deploy"):
        assert 0.0 <= row[f"{split}/auc/base"] <= 1.0
        for kind in ("no proxy", "exact"):
            gain = row[f"{split}/score/{kind}"] - row[f"{split}/score/learned"]
            assert row[f"{split}/cost/{kind}"] == pytest.approx(gain)
    assert row["plan_steps"] == 3


def test_e06_refuses_bad_input(tmp_path, capsys):
    assert e06(["--presets", "roomba", "--out", str(tmp_path)]) == 2
    assert "not planning presets" in capsys.readouterr().err
    assert e06(["--reuse", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_e06_runs_end_to_end_and_resumes(tmp_path, capsys):
    args = ["--presets", "storeroom-planner", "--seeds", "2", "--steps", "8192"]
    args += ["--levels", "4", "--out", str(tmp_path)]
    assert e06(args) == 0
    first = (tmp_path / "approximate_runs.csv").read_text()
    assert "| storeroom-planner (K=3" in capsys.readouterr().out
    assert (tmp_path / "approximate.png").is_file()
    assert e06(args) == 0
    assert (tmp_path / "approximate_runs.csv").read_text() == first
