"""The Roomba oracle, exact engine snapshots (for resume), the evaluation level sets, configs."""

import math

import numpy as np
import pytest

from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.level import Level
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tasks.roomba import DEPLOY_EXAMPLE, SHIFT, TRAIN_EXAMPLE, Roomba
from mesaworld.experiments.training.config import (
    ConfigError,
    TrainConfig,
    parse_value,
    preset,
    presets,
)
from mesaworld.experiments.training.evaluate import PlannerPolicy, eval_levels


def optimum(level, max_steps=50):
    return Roomba(level.shape, max_steps=max_steps).optimal_returns(level.to_array())["base"]


def test_oracle_on_hand_solved_levels():
    assert optimum(TRAIN_EXAMPLE) == 5  # every dust cell within 50 steps
    assert optimum(DEPLOY_EXAMPLE) == 5  # cans are walked around, not sucked
    # Horizon-limited: A at (1,1); dust 3 right, then the next one 4 more moves away.
    assert optimum(TRAIN_EXAMPLE, max_steps=3) == 1
    assert optimum(TRAIN_EXAMPLE, max_steps=2) == 0
    line = Level.from_str("#######\n#A*.**#\n#######")
    assert optimum(line, 1) == 1 and optimum(line, 3) == 2 and optimum(line, 4) == 3


def test_oracle_is_unknown_when_only_a_can_leads_to_dust():
    # The dust behind the can is worth walking over it only if the bin can take both.
    level = Level.from_str("#####\n#A#*#\n#.#c#\n#...#\n#####")
    assert math.isnan(optimum(level))


def test_oracle_beats_or_equals_the_aligned_planner_on_random_levels():
    codes = eval_levels("roomba", "deploy", 40, eval_seed=3)
    engine = make_engine("roomba", len(codes), autoreset=False)
    engine.load_codes(codes)
    planner = PlannerPolicy(TASKS["roomba"].anchors().aligned)
    total = np.zeros(len(codes))
    done = np.zeros(len(codes), bool)
    while not done.all():
        out = engine.step(planner.act(engine.task.observation(engine.state), None))
        total += np.where(done, 0, out["objectives"][0])
        done |= out["done"]
    best = np.array([engine.task.optimal_returns(c)["base"] for c in codes])
    known = ~np.isnan(best)
    assert known.mean() > 0.9
    assert (total[known] <= best[known]).all()
    assert (total[known] == best[known]).mean() > 0.9  # the greedy planner is usually optimal


def test_engine_snapshot_restores_the_exact_future():
    engine = make_engine("roomba", 16, autoreset=True, split="deploy")
    engine.seed(range(16))
    engine.reset()
    rng = np.random.default_rng(0)
    for _ in range(60):
        engine.step(rng.integers(0, 5, 16))
    snap = engine.state_dict()
    actions = rng.integers(0, 5, (80, 16))
    first = [engine.step(a) for a in actions]  # crosses autoresets (levels drawn from the rngs)
    engine.load_state_dict(snap)
    second = [engine.step(a) for a in actions]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a["objectives"], b["objectives"])
        np.testing.assert_array_equal(a["done"], b["done"])
    np.testing.assert_array_equal(
        engine.task.observation(engine.state).shape, (16, *engine.task.obs_shape)
    )


def test_evaluation_levels_are_fixed_by_the_eval_seed_and_train_has_no_cans():
    a = eval_levels("roomba", "deploy", 20, eval_seed=7)
    np.testing.assert_array_equal(a, eval_levels("roomba", "deploy", 20, eval_seed=7))
    assert not np.array_equal(a, eval_levels("roomba", "deploy", 20, eval_seed=8))
    train = eval_levels("roomba", "train", 50, eval_seed=7)
    assert not (train == ord("c")).any() and ((a == ord("c")).sum((1, 2)) >= 2).all()
    assert SHIFT.train.p == 0.0


def test_presets_are_valid_configs():
    for name, cfg in presets().items():
        assert cfg.preset == name and cfg.num_updates >= 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"task": "maze"}, "task: unknown task 'maze'"),
        ({"knob": 1.5}, "knob: must be in [0, 1]"),
        ({"lr": -1.0}, "lr: must be a positive number"),
        ({"gamma": 2.0}, "gamma: must be in [0, 1]"),
        ({"num_envs": 0}, "num_envs: must be at least 1"),
        ({"seed": 1.5}, "seed: must be int"),
        ({"anneal_lr": "yes"}, "anneal_lr: must be bool"),
        ({"total_steps": 100}, "total_steps: must be at least one rollout"),
        ({"view": "top"}, "view: must be one of full, egocentric"),
    ],
)
def test_bad_config_values_name_the_field(overrides, message):
    with pytest.raises(ConfigError) as exc:
        TrainConfig(**{"task": "roomba", **overrides})
    assert str(exc.value).startswith(message)


def test_config_round_trips_through_a_dict():
    cfg = preset("roomba", seed=4, knob=0.25)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown config field"):
        TrainConfig.from_dict({**cfg.to_dict(), "learning_rate": 1})


def test_cli_values_parse_like_a_researcher_types_them():
    assert parse_value("total_steps", "int", "2e6") == 2_000_000
    assert parse_value("knob", "float | None", "none") is None
    assert parse_value("anneal_lr", "bool", "False") is False
    with pytest.raises(ConfigError, match="total_steps: expected an int"):
        parse_value("total_steps", "int", "2.5")
