"""A reward that mixes a task's objectives ((1-w) base + w proxy): the ground truth that agents
trained on a known mixture give the behavioral-objective instrument."""

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from mesaworld.analysis.runfolder import read_config
from mesaworld.experiments.training.config import ConfigError, preset
from mesaworld.experiments.training.trainer import train


@pytest.mark.parametrize("vector", [False, True])
def test_the_reward_is_the_weighted_sum_of_the_objectives_every_step(vector):
    weights = {"base": 0.25, "dust_collected": 0.75}
    kw = {"split": "deploy", "reward_weights": weights}
    if vector:
        env = gym.make_vec(
            "mesaworld/Roomba-v0", num_envs=8, vectorization_mode="vector_entry_point", **kw
        )
    else:
        env = gym.make("mesaworld/Roomba-v0", **kw)
    env.reset(seed=0)
    paid = 0.0
    for a in np.random.default_rng(0).integers(0, 5, (400, 8 if vector else 1)):
        _, reward, term, trunc, info = env.step(a if vector else int(a[0]))
        if not vector and (term or trunc):
            env.reset()
        obj = info["objectives"]
        expected = np.float32(0.25) * obj["base"] + np.float32(0.75) * obj["dust_collected"]
        np.testing.assert_allclose(reward, expected, rtol=0, atol=1e-6)
        paid += float(np.sum(np.asarray(obj["dust_collected"]) - np.asarray(obj["base"])))
    assert paid > 0, "the rollout must suck cans, where the two objectives differ"


def test_without_weights_the_reward_is_the_tasks_reward_objective():
    env = gym.make("mesaworld/AbsentSupervisor-Deploy-v0")
    env.reset(seed=0)
    for a in (0, 1, 2, 3, 2, 2):
        _, reward, term, trunc, info = env.step(a)
        assert reward == info["objectives"]["watched"]
        if term or trunc:
            break


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"bogus": 1.0}, "'bogus' is not an objective of roomba"),
        ({"base": 0.0}, "at least one weight must be non-zero"),
        ({"base": float("inf")}, "must be a finite number"),
        ({}, "non-empty dict"),
    ],
)
def test_bad_weights_are_one_line(weights, message):
    with pytest.raises(ValueError, match=message):
        gym.make("mesaworld/Roomba-v0", reward_weights=weights)


def test_training_on_a_mixture_records_it_and_logs_the_mixed_return(tmp_path):
    cfg = preset("roomba-tiny", reward_weights="base:0.5,dust_collected:0.5", eval_levels=4)
    run = train(cfg, tmp_path / "mix", quiet=True)
    meta = read_config(run)
    assert meta["config"]["reward_weights"] == "base:0.5,dust_collected:0.5"
    log = pd.read_csv(run / "train_log.csv").dropna(subset=["charts/episodic_return"])
    mixed = 0.5 * log["objective/base"] + 0.5 * log["objective/dust_collected"]
    np.testing.assert_allclose(log["charts/episodic_return"], mixed)
    with pytest.raises(ConfigError, match="'base:x' is not objective:weight"):
        preset("roomba-tiny", reward_weights="base:x")


def test_a_run_written_before_the_field_existed_still_resumes(tmp_path):
    run = train(preset("roomba-tiny", eval_levels=4), tmp_path / "old", quiet=True)
    meta = json.loads((run / "config.json").read_text())
    del meta["config"]["reward_weights"]  # as mesaworld 0.1 wrote it
    (run / "config.json").write_text(json.dumps(meta))
    assert train(preset("roomba-tiny", eval_levels=4), run, resume=True, quiet=True) == run


def test_a_noisy_planner_keeps_its_goal_with_less_competence():
    """The calibration's other ground truth: the same planner, a share of random actions."""
    from mesaworld.envs.registry import get_task
    from mesaworld.experiments.training.evaluate import (
        EvalSettings,
        NoisyPolicy,
        PlannerPolicy,
        evaluate,
    )

    planner = PlannerPolicy(get_task("keys-chests").anchors().aligned)
    settings = EvalSettings(eval_seed=3, levels=40)
    rows = {}
    for eps in (0.0, 0.5, 1.0):
        episodes, _ = evaluate(NoisyPolicy(planner, eps), "keys-chests", settings)
        deploy = [e for e in episodes if e["split"] == "deploy"]
        rows[eps] = sum(e["return/base"] for e in deploy) / len(deploy)
    exact, _ = evaluate(planner, "keys-chests", settings)
    assert rows[0.0] == sum(e["return/base"] for e in exact if e["split"] == "deploy") / 40
    assert rows[0.0] > rows[0.5] > rows[1.0]
    with pytest.raises(ValueError, match="epsilon must be in"):
        NoisyPolicy(planner, 1.5)
