"""The in-context learning task (`which-object`), the exact Bayesian learner it is measured
against, and the in-context curves of a recurrent run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mesaworld.agents.lstm import LSTMAgent
from mesaworld.analysis.bayes import cue_prior, first_success, policy, trial_rewards
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.tasks.which_object import LAMP_CELL, SPOTS, START_CELL, TRIAL_STEPS, TRIALS
from mesaworld.experiments.e05_in_context import main as e05
from mesaworld.experiments.instruments.in_context import first_reward_trial, run_curves, trial_table
from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.evaluate import TorchPolicy, eval_levels
from mesaworld.experiments.training.trainer import train

UNIFORM = np.full(3, 1 / 3)


# --- the Bayesian learner, against hand-computed cases ------------------------------------------


@pytest.mark.parametrize(
    "belief, truth, expected",
    [
        # No information: the first try pays 1/3, the second 1/2 of the rest, the third surely.
        (UNIFORM, UNIFORM, [1 / 3, 2 / 3, 1, 1, 1]),
        # The lamp's colour first (0.8), then one of the others (0.1 each): 0.8, 0.8 + 0.1, 1.
        (cue_prior(0.8), cue_prior(0.8), [0.8, 0.9, 1, 1, 1]),
        # Trusting a lamp that lies: trial 1 never pays, trial 2 half the time, trial 3 surely.
        (cue_prior(0.8), cue_prior(0.0), [0, 0.5, 1, 1, 1]),
        # Knowing it lies: skip the lamp's colour, 1/2 then 1.
        (cue_prior(0.0), cue_prior(0.0), [0.5, 1, 1, 1, 1]),
        # A lamp that says nothing (1/3, equal in float only to 1e-16): no option is favoured,
        # so the lying deploy lamp costs nothing: the uniform curve again.
        (cue_prior(1 / 3), cue_prior(0.0), [1 / 3, 2 / 3, 1, 1, 1]),
    ],
)
def test_bayesian_learner_reward_curves_are_the_hand_computed_ones(belief, truth, expected):
    np.testing.assert_allclose(trial_rewards(belief, truth, TRIALS), expected, atol=1e-12)


def test_first_success_is_the_expected_trial_of_the_first_reward():
    assert first_success(trial_rewards(cue_prior(0.8), cue_prior(0.8), 5)) == pytest.approx(1.3)
    assert first_success(trial_rewards(cue_prior(0.0), cue_prior(0.0), 5)) == pytest.approx(1.5)
    assert first_success(trial_rewards(cue_prior(0.8), cue_prior(0.0), 5)) == pytest.approx(2.5)
    assert first_success([0.0, 0.0]) == 3.0  # never found: trials + 1


def test_the_exact_policy_is_most_probable_first_and_its_value_matches_the_curve():
    """On random priors, the DP's choice from every state is the most probable option still
    open, and its value is the sum of the per-trial curve it produces against its own belief."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = int(rng.integers(2, 5))
        b = rng.dirichlet(np.ones(m))
        trials = int(rng.integers(1, 6))
        value, choice = policy(b, trials)
        for (out, _left), picks in choice.items():
            open_ = [i for i in range(m) if not out >> i & 1]
            if not open_ or sum(b[i] for i in open_) == 0:
                continue  # nothing left that can pay: any choice is optimal
            best = max(b[i] for i in open_)
            assert {i for i in open_ if b[i] >= best - 1e-9} == set(picks)
        assert value == pytest.approx(trial_rewards(b, b, trials).sum())


def test_bayes_rejects_bad_priors():
    with pytest.raises(ValueError, match="probability vector"):
        trial_rewards([0.5, 0.6, 0.1], UNIFORM, 5)
    with pytest.raises(ValueError, match="reliability"):
        cue_prior(1.5)
    with pytest.raises(ValueError, match="trials"):
        policy(UNIFORM, 0)


# --- the task: trials reset the level, memory is the agent's -----------------------------------


def _engine(codes):
    engine = make_engine("which-object", len(codes), autoreset=False, view="full")
    engine.load_codes(codes)
    return engine


def test_a_trial_ends_on_touching_an_object_and_the_level_resets():
    codes = eval_levels("which-object", "train", 8, eval_seed=1)
    engine = _engine(codes)
    t = engine.task
    before = engine.state.layout.copy()
    end, prize = t.measures.index("trial_end"), engine.state.prize.copy()
    # Walk to the top-right corner object (up, right): it ends trial 1 on the second step.
    first = engine.step(np.zeros(len(codes), np.int64))
    assert (first["measures"][end] == 0).all() and not first["done"].any()
    assert (engine.state.pos == START_CELL - 5).all()
    second = engine.step(np.ones(len(codes), np.int64))
    assert (second["measures"][end] == 1).all()
    assert (engine.state.pos == START_CELL).all()  # back at the start
    assert (engine.state.layout == before).all()  # the objects where they were
    assert (engine.state.prize == prize).all()  # the same colour pays for the whole episode
    colour_there = engine.state.colour[np.arange(len(codes)), SPOTS[0]]
    np.testing.assert_array_equal(second["objectives"][0], colour_there == prize)
    obs = t.observation(engine.state)
    reward_plane = obs[:, t.channels.index("reward")]
    assert (reward_plane.max((1, 2)) == (colour_there == prize)).all()
    assert (obs[:, t.channels.index("act_right")] == 1).all()
    assert (obs[:, t.channels.index("act_up")] == 0).all()


def test_an_episode_is_five_trials_and_a_trial_times_out_after_four_steps():
    codes = eval_levels("which-object", "deploy", 4, eval_seed=2)
    engine = _engine(codes)
    end = engine.task.measures.index("trial_end")
    stay = np.full(len(codes), 4, np.int64)
    ends, steps = 0, 0
    while True:
        step = engine.step(stay)
        steps += 1
        ends += int(step["measures"][end][0])
        assert (step["objectives"] == 0).all()  # standing still never touches anything
        if step["done"].all():
            break
    assert steps == TRIALS * TRIAL_STEPS and ends == TRIALS


def test_the_lamp_tells_the_truth_at_the_knobs_rate_in_training_and_never_at_deploy():
    def truthful(split, knob=None):
        codes = eval_levels("which-object", split, 3000, eval_seed=5, knob=knob)
        engine = _engine(codes)
        return float((engine.state.cue == engine.state.prize).mean())

    assert truthful("train") == pytest.approx(0.8, abs=0.025)
    assert truthful("train", knob=1 / 3) == pytest.approx(1 / 3, abs=0.025)
    assert truthful("deploy") == 0.0
    codes = eval_levels("which-object", "train", 50, eval_seed=5)
    assert (codes.reshape(len(codes), -1)[:, LAMP_CELL] != ord("#")).all()


def test_every_colour_order_occurs():
    codes = eval_levels("which-object", "train", 600, eval_seed=6)
    engine = _engine(codes)
    orders = {tuple(engine.state.colour[i, SPOTS]) for i in range(len(codes))}
    assert orders == set(itertools.permutations(range(3)))


# --- the curves of a recurrent run -------------------------------------------------------------


def test_in_context_curves_of_a_tiny_run(tmp_path):
    run = tmp_path / "run"
    train(preset("which-object-tiny", seed=2), run, quiet=True)
    table = trial_table(run, "deploy", levels=12)
    assert len(table) == 12 * TRIALS and set(table["trial"]) == set(range(1, TRIALS + 1))
    assert set(np.unique(table["reward"])) <= {0.0, 1.0}
    first = first_reward_trial(table)
    assert ((first >= 1) & (first <= TRIALS + 1)).all()
    curves = run_curves(run, levels=12)
    assert len(curves) == 2 * TRIALS
    deploy = curves[curves["split"] == "deploy"]
    np.testing.assert_allclose(deploy["bayes"], [0.5, 1, 1, 1, 1])
    np.testing.assert_allclose(deploy["bayes_train_prior"], [0, 0.5, 1, 1, 1])
    assert (curves["first_bayes_train_prior"] >= curves["first_bayes"]).all()
    assert run_curves(run, levels=12).equals(curves)  # same seed, same numbers


def test_in_context_curves_need_a_recurrent_which_object_run(tmp_path, storeroom_tiny_run):
    mlp = tmp_path / "mlp"
    train(preset("which-object-tiny", network="mlp"), mlp, quiet=True)
    with pytest.raises(ValueError, match="no memory"):
        trial_table(mlp, "train", levels=4)
    with pytest.raises(ValueError, match="which-object or which-object-noisy run"):
        trial_table(storeroom_tiny_run, "train", levels=4)
    with pytest.raises(ValueError, match="these curves are which-object's"):
        run_curves(storeroom_tiny_run, levels=4)


@pytest.mark.slow
def test_e05_runs_end_to_end_and_resumes(tmp_path, capsys):
    args = ["--knobs", "1/3,0.8", "--seeds", "2", "--steps", "5120", "--levels", "8"]
    args += ["--out", str(tmp_path)]
    assert e05(args) == 0
    first = (tmp_path / "in_context_cells.csv").read_text()
    out = capsys.readouterr().out
    assert "| 0.33 | deploy | 2 |" in out and "| 0.80 | train | 2 |" in out
    assert (tmp_path / "in_context.png").is_file()
    assert e05(args) == 0  # resumed: nothing retrained, the same numbers
    assert (tmp_path / "in_context_cells.csv").read_text() == first
    assert e05(["--knobs", "x", "--out", str(tmp_path)]) == 2
    assert "not a number or a fraction" in capsys.readouterr().err


def test_the_agents_memory_is_kept_across_trials_and_reset_only_between_episodes():
    """Evaluation steps the LSTM with its memory reset on an episode's first step only: the
    memory at the end of an episode is the one a manual unroll with a single reset gives, and
    not the one with a reset at every trial start."""
    torch.manual_seed(0)
    codes = eval_levels("which-object", "train", 6, eval_seed=3)
    engine = _engine(codes)
    t = engine.task
    agent = LSTMAgent(t.observation(engine.state).shape[1:], 5, hidden=16)
    policy = TorchPolicy(agent, "full")
    policy.begin(len(codes))
    rng = np.random.default_rng(0)
    end = t.measures.index("trial_end")
    obs_seq, trial_start = [], [np.ones(len(codes), bool)]
    done = np.zeros(len(codes), bool)
    while not done.all():
        obs = t.observation(engine.state)
        obs_seq.append(obs)
        step = engine.step(np.asarray(policy.act(obs, rng), np.int64))
        trial_start.append(step["measures"][end] > 0)
        done |= step["done"]
    obs_t = torch.from_numpy(np.stack(obs_seq))
    once = torch.zeros(len(obs_seq), len(codes), dtype=torch.bool)
    once[0] = True
    every = torch.from_numpy(np.stack(trial_start[: len(obs_seq)]))
    with torch.no_grad():
        kept = agent.initial_memory(len(codes))
        reset = agent.initial_memory(len(codes))
        for k in range(len(obs_seq)):
            _, _, kept = agent.step(obs_t[k], kept, once[k])
            _, _, reset = agent.step(obs_t[k], reset, every[k])
    assert every[1:].any()  # trials did end inside the episode
    torch.testing.assert_close(policy.memory, kept)
    assert not torch.allclose(policy.memory, reset)
