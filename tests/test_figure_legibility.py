"""The legibility check every saved figure goes through (`analysis.figure_files`): it must find
each kind of missing piece, and pass a figure that has them all."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mesaworld.analysis.figure_files import (  # noqa: E402
    FigureLegibilityWarning,
    legibility_problems,
    save_figure,
)


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
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.warns(FigureLegibilityWarning, match="bad.png: .*no x label"):
        paths = save_figure(fig, tmp_path / "bad.png")
    assert all(p.is_file() for p in paths)
