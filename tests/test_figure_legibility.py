"""The legibility check every saved figure goes through (`analysis.figure_files`): it must find
each kind of missing piece, and pass a figure that has them all; and every figure the project's
own functions draw (from run folders, instruments and experiment tables) passes it."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mesaworld.analysis.figure_files import (  # noqa: E402
    FigureLegibilityWarning,
    legibility_problems,
    save_figure,
)
from mesaworld.envs.registry import TASKS  # noqa: E402


def _good_line():
    fig, ax = plt.subplots()
    ax.errorbar([0, 1], [0.2, 0.4], yerr=[0.1, 0.1], label="planner")
    ax.set_xlabel("knob")
    ax.set_ylabel("deploy base score")
    ax.set_title("roomba, n = 5 seeds, 95% t-interval over seeds")
    return fig


def _good_maps():
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        im = ax.imshow(np.random.default_rng(0).random((3, 3)), vmin=-1, vmax=1, cmap="RdBu")
        ax.set_axis_off()
    fig.colorbar(im, ax=list(axes), label="learned reward")
    fig.suptitle("reward maps, one run")
    return fig


def test_a_complete_figure_passes():
    for make in (_good_line, _good_maps):
        fig = make()
        assert legibility_problems(fig) == []
        plt.close(fig)


def test_each_missing_piece_is_named():
    fig = _good_line()
    fig.axes[0].set_ylabel("")
    assert legibility_problems(fig) == [
        "'roomba, n = 5 seeds, 95% t-interval over seeds': no y label"
    ]
    fig.axes[0].set_title("roomba, 95% t-interval")
    assert any("no count" in p for p in legibility_problems(fig))
    fig.axes[0].set_title("roomba, n = 5")
    assert any("not named" in p for p in legibility_problems(fig))
    plt.close(fig)

    fig, axes = plt.subplots(1, 2)
    axes[0].imshow(np.zeros((2, 2)), vmin=0, vmax=1)
    axes[1].imshow(np.zeros((2, 2)), vmin=0, vmax=2)
    fig.suptitle("n = 1")
    problems = legibility_problems(fig)
    assert sum("no colour bar" in p for p in problems) == 2
    assert any("2 different ranges" in p for p in problems)
    plt.close(fig)


def test_save_figure_warns_and_still_saves(tmp_path):
    """The suite turns the warning into an error (pyproject's filterwarnings); a user's script
    gets a warning and the file, so a long experiment never loses its figure to the check."""
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FigureLegibilityWarning)
        paths = save_figure(fig, tmp_path / "bad.png")
    messages = [str(w.message) for w in caught if issubclass(w.category, FigureLegibilityWarning)]
    assert any("bad.png" in m and "no x label" in m for m in messages), messages
    assert any("no y label" in m for m in messages), messages
    assert all(p.is_file() for p in paths)


def test_the_suite_treats_an_illegible_figure_as_an_error(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(FigureLegibilityWarning, match="no x label"):
        save_figure(fig, tmp_path / "bad.png")
    plt.close(fig)


def test_pictures_need_no_colour_bar_and_the_bar_helpers_say_what_they_draw():
    from matplotlib.text import Text

    from mesaworld.analysis.figure_files import interval_errors, mark_bars

    fig, ax = plt.subplots()
    ax.imshow(np.zeros((2, 2, 3)))  # an RGB picture (a rendered level): no scale to explain
    ax.set_axis_off()
    fig.suptitle("one level")
    assert legibility_problems(fig) == []
    plt.close(fig)
    err = interval_errors([0.9, np.nan, 0.5], [0.7, 0.1, np.nan], [1.2, 0.3, 0.6], (0, 1))
    # clipped to the range (1.2 -> 1); a missing mean or end: no whisker
    assert err == pytest.approx(np.array([[0.2, 0.0, 0.0], [0.1, 0.0, 0.1]]))
    fig, ax = plt.subplots()
    mark_bars(ax, [0, 1, 2, 3], [np.nan, 0.0, 0.003, 0.4])
    assert [t.get_text() for t in ax.findobj(Text) if t in ax.texts] == ["n/a", "0", "0.00"]
    plt.close(fig)


# --- Every figure the project draws from run folders, instruments and experiment tables, drawn
# on tiny or committed inputs and checked as drawn (save_figure is swapped for a recorder).

FIGURE_MODULES = (
    "mesaworld.analysis.figures",
    "mesaworld.analysis.run_figures",
    "mesaworld.analysis.behavior_figures",
    "mesaworld.experiments.instruments.readout_figures",
    "mesaworld.experiments.instruments.thinking_time",
    "mesaworld.experiments.instruments.basin",
    "mesaworld.experiments.instruments.retarget",
    "mesaworld.experiments.e05_in_context",
    "mesaworld.experiments.e06_approximate",
    "mesaworld.experiments.e07_figure",
    "mesaworld.experiments.e08_belief_updating",
)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def drawn(monkeypatch):
    """{file name: figure} of every figure the functions under test save (not written)."""
    figures = {}

    def record(fig, path):
        figures[Path(path).name] = fig
        return []

    for name in FIGURE_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "save_figure", record)
    yield figures
    for fig in figures.values():
        plt.close(fig)


def _all_legible(figures: dict) -> dict:
    return {name: legibility_problems(fig) for name, fig in figures.items()}


def _texts(fig) -> str:
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, roomba_planner_tiny_run):
    """Two one-update planner runs of the Roomba (knob 0 seed 0, knob 0.25 seed 1) beside the
    task's three baselines, on 8 + 8 evaluation levels. The first is a copy of conftest.py's."""
    import json
    import shutil

    from mesaworld.experiments.training.baselines import write_baselines
    from mesaworld.experiments.training.config import preset
    from mesaworld.experiments.training.evaluate import EvalSettings
    from mesaworld.experiments.training.trainer import train

    root = tmp_path_factory.mktemp("legible")
    tiny = {"total_steps": 1024, "eval_levels": 8, "network": "planner", "view": "full"}
    cfg = preset("roomba-tiny", **tiny)
    shutil.copytree(roomba_planner_tiny_run, root / "p0")
    assert json.loads((root / "p0" / "config.json").read_text())["config"] == cfg.to_dict()
    train(preset("roomba-tiny", knob=0.25, seed=1, **tiny), root / "p1", quiet=True)
    write_baselines("roomba", root, EvalSettings(cfg.eval_seed, cfg.eval_levels))
    return root


def test_plot_all_figures_are_legible(tiny_root, drawn):
    from mesaworld.analysis.figures import plot_all

    plot_all(tiny_root, quiet=True)
    assert {"reward_result_gap", "knob_curve_roomba", "deploy_visitation"} <= set(drawn)
    assert all(p == [] for p in _all_legible(drawn).values()), _all_legible(drawn)
    # The last visitation drawn is one run's: named by task, knob, seed and steps.
    title = drawn["deploy_visitation"]._suptitle.get_text()
    assert "roomba" in title and "seed" in title and "training steps" in title


def _summary(seeds: int, scored: bool = True) -> pd.DataFrame:
    """A run_summary-shaped frame of the Roomba: three baselines and `seeds` trained runs at
    knobs 0 and 0.25, train and deploy; scores NaN unless `scored`."""
    rng = np.random.default_rng(0)
    rows = []
    reward = TASKS["roomba"].task_cls.reward
    cells = [("aligned", "nearest floor dust", np.nan, 0, 1)]
    cells += [("proxy", "nearest visible dust", np.nan, 0, 1), ("random", "random", np.nan, 0, 1)]
    cells += [("trained", "ppo-mlp", k, 2_000_000, seeds) for k in (0.0, 0.25)]
    for role, agent, knob, steps, n in cells:
        for seed in range(n):
            for split in ("train", "deploy"):
                base, proxy = rng.uniform(0, 1, 2)
                if split == "train":
                    proxy = base
                rows.append(
                    {"task": "roomba", "kind": "ppo" if role == "trained" else "scripted"}
                    | {"agent": agent, "role": role, "preset": "roomba-long", "knob": knob}
                    | {"reward": reward, "total_steps": steps, "split": split, "seed": seed}
                    | {"eval_seed": 7, "episodes": 200, "run": f"{agent}_{knob}_{seed}"}
                    | {"score/base": base if scored else np.nan}
                    | {"score/dust_collected": proxy if scored else np.nan}
                    | {"norm/base": base, "norm/dust_collected": proxy}
                )
    return pd.DataFrame(rows)


def test_reward_result_gap_plots_the_defined_gap_and_says_n_a(drawn, tmp_path):
    from matplotlib.container import BarContainer

    from mesaworld.analysis.figures import own_gaps, reward_result_gap
    from mesaworld.analysis.metrics import t_interval

    summary = _summary(5)
    gaps = own_gaps(summary)
    runs = summary[(summary["knob"] == 0.25) & (summary["split"] == "deploy")]
    want = (runs["score/base"] - runs["score/dust_collected"]).to_numpy()
    row = gaps[(gaps["knob"] == 0.25) & (gaps["split"] == "deploy")].iloc[0]
    assert row["gap"] == pytest.approx(want.mean()) and row["seeds"] == 5
    assert (row["gap:lo"], row["gap:hi"]) == pytest.approx(t_interval(want))
    reward_result_gap(summary, tmp_path / "gap")
    fig = drawn["gap"]
    assert legibility_problems(fig) == []
    deploy = fig.axes[1]
    heights = [b.get_height() for c in deploy.containers if isinstance(c, BarContainer) for b in c]
    assert heights[-1] == pytest.approx(row["gap"])  # the last bar: knob 0.25 on deploy
    assert "base score - proxy score" in deploy.get_ylabel()

    reward_result_gap(_summary(5, scored=False), tmp_path / "unscored")
    fig = drawn["unscored"]
    assert legibility_problems(fig) == []
    assert [t.get_text() for t in fig.axes[0].texts].count("n/a") == 5  # never a zero bar


def test_knob_curves_draw_t_intervals_at_five_seeds_and_points_below(drawn, tmp_path):
    from matplotlib.collections import PathCollection
    from matplotlib.container import ErrorbarContainer

    from mesaworld.analysis.figures import knob_curve

    knob_curve(_summary(5), "roomba", tmp_path / "five")
    knob_curve(_summary(3), "roomba", tmp_path / "three")
    assert _all_legible(drawn) == {"five": [], "three": []}
    five, three = drawn["five"].axes[0], drawn["three"].axes[0]
    assert any(isinstance(c, ErrorbarContainer) for c in five.containers)
    assert "95% t-interval over seeds" in five.get_title() and "n = 5 seeds" in five.get_title()
    assert not any(isinstance(c, ErrorbarContainer) for c in three.containers)
    dots = [c for c in three.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in dots) == 3 * 2 * 2  # seeds x knobs x objectives
    assert "no interval" in three.get_title() and "n = 3 seeds" in three.get_title()


def test_learning_curves_are_legible(drawn, tmp_path):
    from mesaworld.analysis.figures import learning_curves

    steps = np.arange(1, 6) * 1000
    logs = pd.DataFrame(
        [
            {"preset": "roomba", "knob": k, "total_steps": 5000, "seed": s, "global_step": g}
            | {"objective/base": g / 1000 + s, "measure/cans_emptied": 0.1 * s}
            | {"charts/episodic_length": 50 - g / 1000}
            for k in (0.0, 0.25)
            for s in range(3)
            for g in steps
        ]
    )
    learning_curves(logs, tmp_path / "curves")
    assert _all_legible(drawn) == {"curves": []}
    assert "n = 3 seeds" in _texts(drawn["curves"])


def test_reward_maps_share_one_scale_and_name_the_run(tiny_root, drawn, tmp_path):
    from mesaworld.experiments.instruments.readout_figures import OBSTACLE, reward_map_figure

    reward_map_figure([tiny_root / "p0", tiny_root / "p1"], tmp_path / "maps")
    fig = drawn["maps"]
    assert legibility_problems(fig) == []
    maps = [im for ax in fig.axes for im in ax.images if np.ndim(im.get_array()) == 2]
    assert maps and len({tuple(im.get_clim()) for im in maps}) == 1
    # Obstacles (masked cells) in one grey, not white like the base-target outline.
    assert {matplotlib.colors.to_hex(im.get_cmap().get_bad()) for im in maps} == {OBSTACLE}
    assert OBSTACLE != "#ffffff"
    rows = _texts(fig)
    assert "roomba, knob 0, seed 0" in rows and "roomba, knob 0.25, seed 1" in rows
    assert "K = " in rows


def test_behavioral_objective_figures_are_legible(drawn, tmp_path):
    from mesaworld.analysis.behavioral import BehaviorSettings, analyze

    data = ROOT / "tests" / "data" / "behavior" / "cheese_maze"
    analyze(data, BehaviorSettings(levels=3, train=False), out=tmp_path, quiet=True)
    assert _all_legible(drawn) == {
        "behavioral_gap_cheese-maze": [],
        "reward_maps_cheese-maze": [],
    }
    gap = drawn["behavioral_gap_cheese-maze"]
    assert "base score - proxy score" in gap.axes[0].get_ylabel()  # the gap in returns first
    assert "EPIC" in gap.axes[1].get_ylabel()


def test_probe_figures_are_legible(drawn, tmp_path):
    from mesaworld.experiments.instruments.basin import CONDITIONS, basin_figure
    from mesaworld.experiments.instruments.retarget import retarget_figure
    from mesaworld.experiments.instruments.thinking_time import thinking_time_figure

    think = pd.DataFrame(
        [
            {"budget": k, "split": s, "levels": 100, "norm/base": v, "norm/base:lo": v - 0.1}
            | {"norm/base:hi": min(v + 0.1, 1.0)}
            for k, v in ((1, 0.4), (4, 0.9), (10, 1.0))
            for s in ("train", "deploy")
        ]
    )
    think.attrs["axis"] = "value-iteration steps K at test time"
    thinking_time_figure(think, tmp_path / "thinking", "thinking-time: a run")
    basin = pd.DataFrame(
        [
            {"condition": c, "target": t, "episodes": 0 if t == "corner" else 40}
            | {"returned": np.nan if t == "corner" else r, "returned_lo": max(r - 0.2, 0)}
            | {"returned_hi": min(r + 0.2, 1)}
            for c, r in zip(CONDITIONS, (0.9, 0.0, 0.3))
            for t in ("base", "corner")
        ]
    )
    basin_figure({"agent": basin, "route": basin}, tmp_path / "basin", "basin: a run")
    retarget = pd.DataFrame(
        [
            {"condition": "control", "levels": 50, "success": 0.0, "success_lo": 0.0}
            | {"success_hi": 0.07},
            {"condition": "edited", "levels": 50, "success": 1.0, "success_lo": 0.93}
            | {"success_hi": 1.0},
        ]
    )
    retarget_figure({"planner": retarget}, tmp_path / "retarget", "retarget: a run")
    assert _all_legible(drawn) == {"thinking": [], "basin": [], "retarget": []}
    texts = _texts(drawn["basin"])
    assert "n/a" in texts and "Wilson" in texts and "n = 40 episodes" in texts
    assert "0" in [t.get_text() for t in drawn["retarget"].axes[0].texts]


def test_experiment_figures_from_the_committed_cells_are_legible(drawn, tmp_path):
    from mesaworld.experiments import (
        e05_in_context,
        e06_approximate,
        e07_alpha,
        e08_belief_updating,
    )

    results = ROOT / "docs" / "results"
    e05_in_context.figure(pd.read_csv(results / "e05_in_context_cells.csv"), tmp_path / "e05")
    e06_approximate.figure(pd.read_csv(results / "e06_approximate_cells.csv"), tmp_path / "e06")
    e08_belief_updating.figure(pd.read_csv(results / "e08_belief_cells.csv"), tmp_path / "e08")
    e07_table = e07_alpha.tables(results / "sweeps" / "e07")[0]
    e07_alpha.figure(e07_table, tmp_path / "e07")
    assert _all_legible(drawn) == {"e05": [], "e06": [], "e07": [], "e08": []}
    for ax in drawn["e07"].axes:  # each panel names its budget and pool
        assert re.search(r"\(\d[\d.]*M steps, pool \d+\)", ax.get_title()), ax.get_title()
    for ax in [*drawn["e05"].axes, *drawn["e08"].axes]:  # a probability's bands stay in [0, 1]
        for band in ax.collections:
            y = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
            assert y.min() >= 0 and y.max() <= 1
    texts = [t.get_text() for ax in drawn["e06"].axes for t in ax.texts]
    assert "n/a" in texts  # the Roomba's train proxy ratio: no cans on its training levels
    assert "0" in texts  # a gain of exactly 0 is written, not left invisible


def test_the_readmes_two_visitation_maps_share_one_colour_scale(drawn):
    """docs/deploy_visitation_knob0.png and _knob0.25.png (seed 0 of the committed e01 runs):
    drawn by `run_figures.visitations`, one colour scale for both, each legible alone."""
    from mesaworld.analysis.run_figures import visitations

    e01 = Path(__file__).parents[1] / "docs" / "results" / "sweeps" / "e01"
    runs = [e01 / "roomba-long_knob0_seed0", e01 / "roomba-long_knob0.25_seed0"]
    visitations(runs, [Path("knob0.png"), Path("knob0.25.png")])
    assert set(drawn) == {"knob0.png", "knob0.25.png"}
    assert all(p == [] for p in _all_legible(drawn).values()), _all_legible(drawn)
    tops = set()
    for name, fig in drawn.items():
        images = [im for ax in fig.axes for im in ax.get_images() if im.norm.vmax is not None]
        tops |= {im.norm.vmax for im in images if im.get_cmap().name == "magma_r"}
        assert f"knob {name[4:-4]}, seed 0" in fig._suptitle.get_text()
    assert len(tops) == 1, tops
    with pytest.raises(ValueError, match="one path per run"):
        visitations(runs, [Path("x.png")])
