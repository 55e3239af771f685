"""Belief updating against elimination (issue 24, item 7): `which-object-noisy`, the exact
Bayesian learner with noisy payoffs (`mesaworld.analysis.bayes_noisy`), the instrument that reads
a trained LSTM against it, and experiment 8 end to end."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesaworld.analysis import bayes, bayes_noisy
from mesaworld.analysis.bayes import cue_prior
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.level import Level
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tasks.which_object import MISS_CELLS, SPOTS, WhichObjectLevels
from mesaworld.experiments.e08_belief_updating import main as e08
from mesaworld.experiments.instruments.belief_updating import (
    decisions,
    persist_counts,
    rule_probs,
    stay_counts,
)

# --- the Bayesian learner with noisy payoffs -----------------------------------------------------


def test_with_sure_payoffs_it_is_the_deterministic_learner():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m, trials = int(rng.integers(2, 5)), int(rng.integers(1, 7))
        b, q = rng.dirichlet(np.ones(m)), rng.dirichlet(np.ones(m))
        np.testing.assert_allclose(
            bayes_noisy.curves(b, q, trials, 1.0)["reward"],
            bayes.trial_rewards(b, q, trials),
            atol=1e-12,
        )


def test_hand_computed_two_options():
    """Two equally likely options, the prize pays half the time, 2 trials. Trial 1 pays 1/4.
    Trial 2: paid in trial 1 (1/4) -> stay, pays 1/2; missed (3/4) -> the posterior of the
    option tried is (1/2)(1/2) / (3/4) = 1/3, so switch: it pays (2/3)(1/2) = 1/3. In all
    1/8 + 1/4 = 3/8. First payment: 1/4 in trial 1, (3/4)(1/3) = 1/4 in trial 2."""
    c = bayes_noisy.curves([0.5, 0.5], [0.5, 0.5], 2, 0.5)
    np.testing.assert_allclose(c["reward"], [0.25, 0.375])
    np.testing.assert_allclose(c["first"], [0.25, 0.25])
    assert bayes_noisy.first_trial(c["first"]) == pytest.approx(0.25 + 0.5 + 0.5 * 3)


@pytest.mark.parametrize(
    "lamp, expected",
    [(0.8, [1, 1, 1 / 3, 0]), (0.6, [1, 0, 0, 0]), (1 / 3, [0, 0, 0, 0])],
)
def test_the_bayesian_learner_returns_to_the_lamp_where_elimination_does_not(lamp, expected):
    """Posterior of the lamp's colour after k misses: lamp 0.5^k against (1 - lamp) / 2. At 0.8:
    0.4, 0.2 > 0.1, then 0.1 = 0.1 (a three-way tie: 1/3); at 0.6: 0.3 > 0.2, then 0.15 < 0.2."""
    prior = cue_prior(lamp)
    assert bayes_noisy.persistence(prior, 8, 0.5)[:4] == pytest.approx(expected)
    assert bayes_noisy.persistence(prior, 8, 0.5, "elimination") == [0.0] * 7


def test_the_exact_value_is_the_sum_of_its_curve_and_beats_elimination():
    rng = np.random.default_rng(2)
    for _ in range(20):
        b, p = rng.dirichlet(np.ones(3)), float(rng.uniform(0.2, 1.0))
        value, _ = bayes_noisy.policy(b, 6, p)
        assert value == pytest.approx(bayes_noisy.curves(b, b, 6, p)["reward"].sum())
        elim = bayes_noisy.curves(b, b, 6, p, "elimination")["reward"].sum()
        assert value >= elim - 1e-12


@pytest.mark.parametrize("learner", ["bayes", "elimination"])
def test_per_level_curves_average_to_the_distributions_curves(learner):
    """Every prize and every payment schedule of 4 trials, weighted by its probability: the
    per-level expectations add up to the exact curves over the distribution."""
    belief, truth, p, trials = cue_prior(0.8), cue_prior(0.0), 0.5, 4
    reward, first = np.zeros(trials), np.zeros(trials)
    for prize, w in enumerate(truth):
        for bits in itertools.product([False, True], repeat=trials):
            weight = w * np.prod([(1 - p) if miss else p for miss in bits])
            c = bayes_noisy.level_curves(belief, prize, np.array(bits), p, learner)
            reward += weight * c["reward"]
            first += weight * c["first"]
    exact = bayes_noisy.curves(belief, truth, trials, p, learner)
    np.testing.assert_allclose(reward, exact["reward"], atol=1e-12)
    np.testing.assert_allclose(first, exact["first"], atol=1e-12)


@pytest.mark.parametrize("lamp", [1 / 3, 0.6, 0.8])
def test_on_this_task_the_exact_choice_is_the_highest_posterior_in_every_state(lamp):
    """The docstring's finding: over every state the DP reaches, its choice is the colour of
    highest posterior (the trials left never matter), and `bayes_choice` agrees with `policy`."""
    prior = cue_prior(lamp)
    _, choice = bayes_noisy.policy(prior, 8, 0.5)
    for (misses, left), picks in choice.items():
        post = bayes_noisy.posterior(prior, misses, 0.5)
        assert set(picks) == set(np.flatnonzero(post >= post.max() - 1e-9))
        assert set(bayes_noisy.bayes_choice(prior, misses, left, 0.5)) == set(picks)


def test_the_count_rule_and_rule_probabilities():
    assert bayes_noisy.count_choice((1, 0, 0), 1) == (0,)
    assert bayes_noisy.count_choice((2, 1, 0), 1) == (2,)
    assert bayes_noisy.count_choice((2, 1, 1), 1) == (1, 2)
    # lamp 0.6 after lamp, lamp, other, other: Bayes goes back, the count rule (N = 1) does not
    assert rule_probs("bayes", 0.6, (2, 1, 1), 5)["lamp"] == 1.0
    assert rule_probs("count", 0.6, (2, 1, 1), 5, n_back=1) == {
        "lamp": 0.0, "fewer": 1.0, "more": 0.0, "none": 0.0}  # fmt: skip
    assert rule_probs("bayes", 0.8, (3, 0, 0), 6)["lamp"] == pytest.approx(1 / 3)  # a tie


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="payoff"):
        bayes_noisy.policy(cue_prior(0.8), 5, 0.0)
    with pytest.raises(ValueError, match="trials"):
        bayes_noisy.curves(cue_prior(0.8), cue_prior(0.8), 0, 0.5)
    with pytest.raises(ValueError, match="learner"):
        bayes_noisy.curves(cue_prior(0.8), cue_prior(0.8), 3, 0.5, "greedy")
    with pytest.raises(ValueError, match="payoff"):
        WhichObjectLevels(payoff=1.5)
    with pytest.raises(ValueError, match="prize"):
        bayes_noisy.level_curves(cue_prior(0.8), 3, np.zeros(4, bool), 0.5)


# --- the task ------------------------------------------------------------------------------------

LEVEL = Level.from_str("""
    #####
    #x;R#
    #,A.#
    #b:g#
    #####
""")  # the prize (R, top right) misses in trials 2 and 3 (",", ";") and 7 and 8 (":")


def test_the_prize_pays_exactly_on_the_levels_schedule():
    engine = make_engine("which-object-noisy", 1, autoreset=False)
    engine.load_levels([LEVEL])
    assert engine.task.optimal_returns(LEVEL.to_array()) == {"base": 4.0, "cue": 8.0}
    paid, steps, done = [], 0, False
    while not done:  # up, right: onto the prize; the trial resets the agent to the middle
        for action in (0, 1):
            out = engine.step(np.array([action]))
            steps += 1
        paid.append(float(out["objectives"][0, 0]))
        done = bool(out["done"][0])
    assert paid == [1, 0, 0, 1, 1, 1, 0, 0] and steps == 16


def test_generated_levels_hide_a_schedule_at_the_payoff_rate():
    gen = TASKS["which-object-noisy"].shift.train
    codes = gen.build(np.random.default_rng(3).random((4000, gen.n_uniforms)))
    task = make_engine("which-object-noisy", 1, autoreset=False).task
    base = np.array([task.optimal_returns(c)["base"] for c in codes])
    assert abs(base.mean() / 8 - 0.5) < 0.02
    # The schedule lives only in the four cells between the corners, as floor.
    flat = codes.reshape(len(codes), -1)
    assert set(np.unique(flat[:, MISS_CELLS]).tolist()) == {ord(c) for c in ".,;:"}
    assert not np.isin(flat[:, SPOTS], [ord(c) for c in ",;:"]).any()
    obs = task.observation(_loaded(task, codes[:50]))
    assert not obs[:, task.channels.index("obstacle")].reshape(50, -1)[:, MISS_CELLS].any()


def _loaded(task, codes):
    s = task.alloc(len(codes))
    task.load(s, np.arange(len(codes)), codes)
    return s


def test_which_object_levels_are_unchanged_by_the_payoff_option():
    """payoff 1 (which-object) draws no schedule: the same uniforms, the same levels, no
    hidden misses."""
    gen = TASKS["which-object"].shift.train
    assert gen.n_uniforms == 6
    codes = gen.build(np.random.default_rng(4).random((200, 6)))
    assert not np.isin(codes, [ord(c) for c in ",;:"]).any()


# --- the instrument and experiment 8 -------------------------------------------------------------


def _table(touched, paid, lamp):
    rows = []
    for level, (t_row, p_row) in enumerate(zip(touched, paid)):
        for k, (t, p) in enumerate(zip(t_row, p_row), 1):
            rows.append({"level": level, "trial": k, "touched": t, "reward": p, "lamp": lamp})
    return pd.DataFrame(rows)


def test_persistence_and_stay_are_counted_on_the_right_episodes():
    table = _table(
        touched=[[0, 0, 1], [0, 1, 2], [0, 0, 1], [1, 0, 0]],
        paid=[[0, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0]],
        lamp=0,
    )
    # k = 1: episodes 0 and 1 (lamp, missed), not 2 (paid) or 3 (not the lamp); 0 came back.
    assert persist_counts(table, 1) == (2, 1)
    assert persist_counts(table, 2) == (1, 0)  # episode 0 missed twice, then left
    assert stay_counts(table) == (2, 1)  # episode 2 paid in trials 1 and 2: stayed, then left


def test_decisions_count_each_choice_before_the_first_payment_in_its_state():
    table = _table(
        touched=[[0, 0, 1, 2, 0], [2, -1, 0, 1, 1]],
        paid=[[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]],
        lamp=0,
    )
    got = {tuple(r[:6]): r[6] for r in decisions(table).itertuples(index=False)}
    # (lamp misses, fewer, more, trial, the lamp's colour tried longest ago, choice): count
    assert got == {
        # episode 0: lamp, lamp, then an other (the others tie: "fewer"), then the untried
        # other, which pays in trial 4: nothing after it is a pre-payment choice
        (0, 0, 0, 1, 1, "lamp"): 1, (1, 0, 0, 2, 0, "lamp"): 1, (2, 0, 0, 3, 0, "fewer"): 1,
        (2, 0, 1, 4, 0, "fewer"): 1,
        # episode 1: an other, nothing touched (the lamp's colour still untried, so "oldest"),
        # the lamp, the untried other, then a tie
        (0, 0, 0, 1, 1, "fewer"): 1, (0, 0, 1, 2, 1, "none"): 1, (0, 0, 1, 3, 1, "lamp"): 1,
        (1, 0, 1, 4, 0, "fewer"): 1, (1, 1, 1, 5, 0, "fewer"): 1,
    }  # fmt: skip


@pytest.mark.slow
def test_e08_trains_reads_and_resumes(tmp_path, capsys):
    out = tmp_path / "e08"
    args = ["--knobs", "0.8", "--seeds", "2", "--steps", "8192", "--levels", "12"]
    assert e08([*args, "--workers", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    runs = pd.read_csv(out / "belief_runs.csv")
    assert set(runs["measure"]) == {
        "reward",
        "total",
        "first",
        "follow",
        "stay",
        "stayed",
        "persist",
    }
    assert (out / "belief_decisions.csv").is_file() and (out / "belief_states.csv").is_file()
    assert (out / "belief_updating.png").is_file() and "again in trial k + 1" in printed
    cached = sorted((out / "rows").iterdir())
    assert len(cached) == 2
    assert e08([*args, "--workers", "1", "--out", str(out)]) == 0  # nothing left to do
    assert capsys.readouterr().out == printed


def test_e08_regenerates_from_committed_runs_and_refuses_bad_input(tmp_path, capsys):
    committed = Path(__file__).resolve().parent.parent / "docs/results/e08_belief_runs.csv"
    assert e08(["--from-runs", str(committed), "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "again in trial k + 1" in printed and (tmp_path / "a/belief_updating.png").is_file()
    assert e08(["--knobs", "lots", "--out", str(tmp_path / "x")]) == 2
    assert "knobs" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert e08(["--from-runs", str(bad), "--out", str(tmp_path / "y")]) == 2
    assert "lacks columns" in capsys.readouterr().err
    assert e08(["--from-runs", str(tmp_path / "none.csv"), "--out", str(tmp_path / "z")]) == 2
    assert "none.csv" in capsys.readouterr().err
