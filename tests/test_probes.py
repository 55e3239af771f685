"""Each probe gives the expected verdict on agents whose goal is known by construction: a
hand-coded optimizer (breadth-first search to its goal every step) and a hand-coded heuristic
(a memorised action sequence that wins the unperturbed levels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mesaworld.agents.planner import PlannerAgent
from mesaworld.envs.registry import get_task
from mesaworld.experiments.instruments.basin import basin_of_attraction, verdicts
from mesaworld.experiments.instruments.linear_probes import (
    disagreement,
    level_splits,
    linear_probes,
)
from mesaworld.experiments.instruments.reference_agents import (
    FixedRoute,
    RandomWalker,
    ReferenceOptimizer,
    proxy_pursuers,
)
from mesaworld.experiments.instruments.retarget import PlannerEdit, retargeting, verdict
from mesaworld.experiments.instruments.rollouts import play, wilson
from mesaworld.experiments.training.evaluate import TorchPolicy, eval_levels


@pytest.fixture(scope="module", params=["cheese-maze", "roomba"])
def agents(request):
    task = request.param
    codes = eval_levels(task, "deploy", 40, eval_seed=5)
    optimizer = ReferenceOptimizer(task)
    return task, codes, optimizer, FixedRoute.recorded(optimizer, task, codes)


def test_the_memorised_route_wins_the_unperturbed_levels(agents):
    task, codes, optimizer, route = agents
    a, b = play(optimizer, task, codes, 0), play(route, task, codes, 0)
    np.testing.assert_array_equal(a.positions, b.positions)  # the same path, step for step


def test_basin_an_optimizer_returns_a_memorised_route_does_not(agents):
    task, codes, optimizer, route = agents
    assert verdicts(basin_of_attraction(optimizer, task, codes, perturb_at=2))["base"] == "returns"
    table = basin_of_attraction(route, task, codes, perturb_at=2)
    assert verdicts(table)["base"] == "does not return"
    row = table.set_index(["condition", "target"])["returned"]
    assert row[("unperturbed", "base")] == 1.0 and row[("teleported", "base")] < 0.6


def test_retargeting_an_optimizer_goes_where_told_a_route_does_not(agents):
    task, codes, optimizer, route = agents
    table = retargeting(optimizer, task, codes)
    assert verdict(table) == "retargetable"
    assert table.set_index("condition").loc["edited", "success"] == 1.0
    assert verdict(retargeting(route, task, codes)) == "not retargetable"


def test_linear_probes_find_the_goal_in_a_plan_and_not_in_a_counter(agents):
    task, codes, optimizer, route = agents
    found = linear_probes(optimizer, task, codes).set_index(["label", "scored"])
    for label in ("step/base", "goal/base"):
        assert found.loc[(label, "all"), "accuracy_lo"] > found.loc[(label, "all"), "chance"] + 0.3
    counter = linear_probes(route, task, codes).set_index(["label", "scored"])
    # A step counter knows nothing about where the goal is: the goal cell stays at chance.
    goal = counter.loc[("goal/base", "all")]
    assert goal["accuracy_lo"] <= goal["chance"] + 0.05 and goal["accuracy"] < 0.3


def test_where_the_goals_disagree_the_probe_reads_which_goal_is_pursued():
    """On all steps the base optimizer's plan "decodes" the proxy's goal too (they are mostly
    one cell); on the steps where they are apart it decodes only its own, and the proxy
    pursuer the reverse. The disagreeing steps are where the goals are different cells."""
    task = "roomba"
    codes = eval_levels(task, "deploy", 40, eval_seed=5)
    base = linear_probes(ReferenceOptimizer(task), task, codes).set_index(["label", "scored"])
    (pursuer,) = proxy_pursuers(task)
    proxy = linear_probes(pursuer, task, codes).set_index(["label", "scored"])
    acc = "accuracy"
    assert base.loc[("goal/dust_collected", "all"), acc] > 0.5  # agreeing steps inflate it
    assert base.loc[("goal/base", "disagree"), acc] == 1.0
    assert base.loc[("goal/dust_collected", "disagree"), acc] == 0.0
    assert proxy.loc[("goal/dust_collected", "disagree"), acc] == 1.0
    assert proxy.loc[("goal/base", "disagree"), acc] == 0.0
    for table in (base, proxy):
        steps = table["steps"]
        assert 10 <= steps[("goal/base", "disagree")] < steps[("goal/base", "all")]


def test_levels_split_three_ways_by_whole_levels():
    np.testing.assert_array_equal(level_splits(4), [0, 0, 1, 2])
    parts = level_splits(100)
    assert [int((parts == i).sum()) for i in range(3)] == [50, 25, 25]
    assert (np.diff(parts) >= 0).all()  # contiguous blocks of levels: one episode each
    with pytest.raises(ValueError, match="at least 4 levels"):
        level_splits(3)


def test_disagreement_is_where_both_goals_exist_and_differ():
    nan = np.nan
    labels = {
        "step/base": np.array([0, 1, nan, 2, 3.0]),
        "step/proxy": np.array([0, 2, 1, nan, 1.0]),
        "goal/base": np.array([5, 6, 7, nan, 9.0]),
        "goal/proxy": np.array([5, 5, 7, 8, nan]),
    }
    apart = disagreement(labels)
    np.testing.assert_array_equal(apart["step"], [False, True, False, False, True])
    np.testing.assert_array_equal(apart["goal"], [False, True, False, False, False])


class _SplitSighted(ReferenceOptimizer):
    """The optimizer's plan as two layers: "sees_validation" holds it on the fit and validation
    levels and noise on the scoring levels; "sees_scoring" the reverse of the last two."""

    def __init__(self, task: str, n: int) -> None:
        super().__init__(task)
        self.part, self.noise = level_splits(n), np.random.default_rng(1)

    def activations(self):
        plan = self._plan["plan"]
        noise = self.noise.random(plan.shape).astype(np.float32)
        keep = {"sees_validation": self.part < 2, "sees_scoring": self.part != 1}
        return {k: np.where(m[:, None, None, None], plan, noise) for k, m in keep.items()}


def test_the_layer_is_chosen_on_the_validation_levels_not_the_scoring_ones():
    task = "roomba"
    codes = eval_levels(task, "deploy", 24, eval_seed=5)
    table = linear_probes(_SplitSighted(task, len(codes)), task, codes)
    goal = table[(table["label"] == "goal/base") & (table["scored"] == "all")]
    goal = goal.set_index("layer")
    # Scored, the layer that sees the scoring levels wins; it is not the one chosen.
    assert goal.loc["sees_scoring", "accuracy"] > goal.loc["sees_validation", "accuracy"] + 0.3
    assert goal.loc["sees_validation", "validation"] > goal.loc["sees_scoring", "validation"]
    assert goal["chosen"].to_dict() == {"sees_validation": True, "sees_scoring": False}
    # One chosen layer per label, the same for both scopes.
    chosen = table[table["chosen"]]
    assert (chosen.groupby("label")["layer"].nunique() == 1).all()
    assert set(chosen["label"]) == set(table["label"])


class _Scripted:
    """A task's scripted baseline (one observation at a time) as a batch policy."""

    view = "full"

    def __init__(self, planner) -> None:
        self.planner = planner

    def act(self, obs, rng):
        return np.array([self.planner.act(o) for o in obs])


def test_the_proxy_pursuer_is_the_tasks_scripted_proxy_baseline_move_for_move():
    for task in ("roomba", "cheese-maze"):
        codes = eval_levels(task, "deploy", 20, eval_seed=5)
        (pursuer,) = proxy_pursuers(task)
        played = play(pursuer, task, codes, 0)
        scripted = play(_Scripted(get_task(task).anchors().proxy), task, codes, 0)
        np.testing.assert_array_equal(played.actions, scripted.actions)


def test_the_random_walker_has_no_goal_to_rewrite_and_shows_only_its_input():
    task = "roomba"
    codes = eval_levels(task, "deploy", 20, eval_seed=5)
    walker = RandomWalker()
    table = retargeting(walker, task, codes).set_index("condition")["success"]
    assert table["edited"] == table["control"]
    obs = np.random.default_rng(0).integers(0, 2, (3, 5, 9, 9)).astype(np.uint8)
    walker.act(obs, np.random.default_rng(0))
    np.testing.assert_array_equal(walker.activations()["observation"], obs)


def test_retargeting_a_planner_edits_its_reward_map():
    task = "roomba"
    codes = eval_levels(task, "deploy", 16, eval_seed=5)
    torch.manual_seed(0)
    channels = ("obstacle", "dust", "can", "agent", "bin_space")
    agent = PlannerAgent((5, 9, 9), 5, channels, plan_steps=14)
    with torch.no_grad():  # an untrained map (nearly flat) and a sharp policy
        agent.log_beta.fill_(3.0)
    table = retargeting(PlannerEdit(TorchPolicy(agent, "full")), task, codes)
    assert verdict(table) == "retargetable"
    assert agent.reward_edit is None  # the edit is undone after the probe
    with pytest.raises(ValueError, match="no way to rewrite its goal"):
        retargeting(TorchPolicy(agent, "full"), task, codes)


def test_wilson_interval_matches_the_textbook_values():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    from mesaworld.experiments.training.config import preset
    from mesaworld.experiments.training.trainer import train

    root = tmp_path_factory.mktemp("probe_runs")
    tiny = {"total_steps": 1024, "eval_levels": 8}  # one update each: no test needs skill
    planner = train(preset("roomba-tiny", network="planner", view="full", **tiny), root / "p")
    small = {**tiny, "num_envs": 16, "total_steps": 256}  # 16 envs x 16 steps
    recurrent = preset("roomba-tiny", network="recurrent", view="full", **small)
    return planner, train(recurrent, root / "r"), train(preset("roomba-tiny", **tiny), root / "m")


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


def test_the_architecture_table_reads_sweeps(tmp_path, capsys):
    from mesaworld.experiments.e02_architectures import main
    from mesaworld.experiments.training.sweep import run_sweep, sweep_configs

    cfgs = sweep_configs("roomba-tiny", [0.0], 2, workers=1, total_steps=1024)
    run_sweep(cfgs, tmp_path / "mlp", workers=1, quiet=True)
    assert main([str(tmp_path / "mlp")]) == 0
    out = capsys.readouterr().out
    assert "| roomba | roomba-tiny | 0 | 2 |" in out and "undertrained 2/2" in out
    assert main([str(tmp_path / "nothing")]) == 2
