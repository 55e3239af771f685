"""Each probe gives the expected verdict on agents whose goal is known by construction: a
hand-coded optimizer (breadth-first search to its goal every step) and a hand-coded heuristic
(a memorised action sequence that wins the unperturbed levels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def test_the_architecture_table_reads_sweeps(tmp_path, capsys):
    from mesaworld.experiments.e02_architectures import main
    from mesaworld.experiments.training.sweep import run_sweep, sweep_configs

    cfgs = sweep_configs("roomba-tiny", [0.0], 2, workers=1, total_steps=1024)
    run_sweep(cfgs, tmp_path / "mlp", workers=1, quiet=True)
    assert main([str(tmp_path / "mlp")]) == 0
    out = capsys.readouterr().out
    assert "| roomba | roomba-tiny | 0 | 2 |" in out and "undertrained 2/2" in out
    assert main([str(tmp_path / "nothing")]) == 2


# --- experiment 3's tables and figure, from a runs table (no probing) --------------------------
def _runs_table():
    """Five seeds of a planner and of an MLP (no retargeting: n/a), then a reference and the
    two controls, one row each: the shape `e03_probes` writes."""
    rng = np.random.default_rng(0)
    rows = []
    for network in ("planner", "mlp"):
        for seed in range(5):
            row = {"task": "roomba", "role": "trained", "preset": f"roomba-{network}"}
            row |= {"knob": 0.0, "seed": seed, "network": network, "steps": 294912}
            row |= {"levels": 100, "run": f"{network}_{seed}", "path": f"/x/{network}_{seed}"}
            row |= {"basin/base": rng.uniform(0.8, 1), "basin/dust_collected": rng.uniform()}
            if network == "mlp":
                row |= {"retarget": np.nan, "retarget note": "an mlp has no map"}
                row |= {"retarget control": np.nan}
            else:
                row |= {"retarget": rng.uniform(0.9, 1), "retarget control": rng.uniform(0, 0.3)}
            for goal in ("goal/base", "goal/dust_collected"):
                m = f"linear/{goal}"
                row |= {m: rng.uniform(), f"{m} chance": 0.1, f"{m} steps": 600.0}
                row |= {f"{m} disagree": rng.uniform(), f"{m} disagree chance": 0.2}
                row |= {f"{m} disagree steps": 150.0}
                row[f"{m} layer"] = "reward_head" if seed < 3 else "features.1"
            rows.append(row)
    for role, name in (
        ("control", "random walker"),
        ("reference", "reference optimizer (base)"),
        ("control", "proxy pursuer (dust_collected)"),
    ):
        row = {"task": "roomba", "role": role, "preset": name, "knob": np.nan, "levels": 100}
        row |= {"basin/base": 0.2, "basin/dust_collected": 0.3, "retarget": 0.1}
        row |= {"retarget control": 0.1, "linear/goal/base": 0.15, "linear/goal/base chance": 0.1}
        row |= {"linear/goal/base layer": "plan", "linear/goal/dust_collected": 0.0}
        row |= {"linear/goal/dust_collected layer": "plan"}
        rows.append(row)
    return pd.DataFrame(rows)


def test_e03_cells_are_means_and_t_intervals_over_seeds_in_role_order():
    from mesaworld.analysis.metrics import t_interval
    from mesaworld.experiments.e03_probes import cells

    runs = _runs_table()
    table = cells(runs)
    assert list(table["role"]) == ["trained", "trained", "reference", "control", "control"]
    assert list(table["preset"][:2]) == ["roomba-mlp", "roomba-planner"]  # sorted, then knob
    mlp, planner = table.iloc[0], table.iloc[1]
    x = runs.loc[runs["network"] == "planner", "basin/base"].to_numpy()
    assert planner["seeds"] == 5 and planner["basin/base"] == pytest.approx(x.mean())
    assert (planner["basin/base:lo"], planner["basin/base:hi"]) == pytest.approx(t_interval(x))
    assert planner["linear/goal/base layer"] == "reward_head 3/5, features.1 2/5"
    assert np.isnan(mlp["retarget"]) and mlp["retarget note"] == "an mlp has no map"
    walker = table.iloc[3]
    assert walker["seeds"] == 1 and np.isnan(walker["basin/base:lo"])


def test_e03_markdown_says_n_a_intervals_and_chance():
    from mesaworld.experiments.e03_probes import cells, markdown

    text = markdown(cells(_runs_table()))
    behaviour, linear = text.split("\n\n")
    mlp = next(
        line for line in behaviour.splitlines() if line.startswith("| roomba-mlp (mlp, 0.3M steps)")
    )
    assert mlp.endswith("| n/a | n/a |")
    planner = next(
        ln for ln in behaviour.splitlines() if ln.startswith("| roomba-planner (planner, 0.3M")
    )
    assert planner.count("[") == 4  # basin x 2, retargeted, unedited: each mean [lo, hi]
    walker = next(ln for ln in behaviour.splitlines() if ln.startswith("| random walker"))
    assert walker == "| random walker | - | 1 | 20 | 30 | 10 | 10 |"
    rows = [ln for ln in linear.splitlines() if ln.startswith("| roomba-planner")]
    assert len(rows) == 2 and "| goal/base | reward_head 3/5, features.1 2/5 |" in rows[0]
    assert "| 10 |" in rows[0] and "| 20 |" in rows[0] and rows[0].endswith("| 600 / 150 |")
    ref = next(ln for ln in linear.splitlines() if ln.startswith("| reference optimizer"))
    assert (
        ref
        == "| reference optimizer (base) | - | goal/base | plan | 15 | 10 | n/a | n/a | n/a / n/a |"
    )


def test_e03_figure_draws_n_a_as_text_chance_and_controls_and_is_legible():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from mesaworld.analysis.figure_files import legibility_problems
    from mesaworld.experiments.e03_probes import cells, draw

    table = cells(_runs_table())
    fig = draw(table, "roomba")
    try:
        assert legibility_problems(fig) == []
        basin, retarget, linear, apart = fig.axes
        names = [t.get_text() for t in retarget.get_xticklabels()]
        assert "random walker" in names and "proxy pursuer (dust_collected)" in names
        mlp = names.index("roomba-mlp (mlp, 0.3M steps), knob 0")
        # The MLP's two retargeting figures are the text "n/a", not bars (of height 0).
        marks = [t for t in retarget.texts if t.get_text() == "n/a"]
        assert len(marks) == 2 and all(abs(t.get_position()[0] - mlp) < 0.5 for t in marks)
        low, high = retarget.get_xlim()
        assert low < mlp - 0.3 and high > len(names) - 1 + 0.3  # every row in view
        bars = [p for p in retarget.patches if isinstance(p, Rectangle) and p.get_width() < 1]
        assert not any(abs(b.get_x() + b.get_width() / 2 - mlp) < 0.5 for b in bars)
        for ax in (linear, apart):
            chance = [c for c in ax.collections if c.get_label() == "chance (majority class)"]
            assert len(chance) == 1
        # A chance dash over the walker's goal/base bar, at its chance, in %.
        (chance,) = [c for c in linear.collections if c.get_label().startswith("chance")]
        x = names.index("random walker")
        assert any(np.allclose(s[:, 1], 10.0) and abs(s[:, 0].mean() - x) < 0.5
                   for s in chance.get_segments())  # fmt: skip
        walker = [ln for ln in basin.lines if ln.get_label().startswith("random walker")]
        assert len(walker) == 2 and walker[0].get_ydata()[0] == pytest.approx(20.0)
    finally:
        plt.close(fig)


def test_e03_redraws_from_a_cells_file_and_refuses_bad_input(tmp_path, capsys):
    from mesaworld.experiments.e03_probes import cells, main, markdown

    table = cells(_runs_table())
    path = tmp_path / "cells.csv"
    table.to_csv(path, index=False)
    assert main(["--from-cells", str(path), "--out", str(tmp_path / "fig")]) == 0
    assert markdown(table) in capsys.readouterr().out
    assert (tmp_path / "fig" / "probes_roomba.png").is_file()
    for argv, words in (
        (["--from-cells", str(tmp_path / "none.csv")], "is not a file"),
        (["--from-cells", str(path), str(tmp_path)], "give no sweep folders"),
        ([], "give sweep folders"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert main(["--from-cells", str(tmp_path / "other.csv")]) == 2
    assert "not an e03 cells table" in capsys.readouterr().err


def test_the_linear_probe_figure_is_legible_and_marks_the_chosen_layer(tmp_path):
    import warnings

    from mesaworld.analysis.figure_files import FigureLegibilityWarning
    from mesaworld.experiments.instruments.linear_probes import probe_figure

    task = "roomba"
    codes = eval_levels(task, "deploy", 12, eval_seed=5)
    table = pd.concat(
        [linear_probes(a, task, codes) for a in (ReferenceOptimizer(task), RandomWalker())]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FigureLegibilityWarning)
        paths = probe_figure(table, tmp_path / "linear")
    assert all(p.is_file() for p in paths)
