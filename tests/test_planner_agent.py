"""The planning agent (`mesaworld.agents.planner`): its value iteration is exact, a reward map steers it,
and it trains, saves and reloads like the other networks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mesaworld.agents.planner import PlannerAgent, value_iteration
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.config import ConfigError, preset
from mesaworld.experiments.training.trainer import train

MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1), (0, 0)]


def _loop_value_iteration(reward, free, steps, gamma):
    """Plain-loop value iteration over cells: the reference the tensor version must match."""
    h, w = reward.shape
    value = np.zeros((h, w))
    q = np.zeros((5, h, w))
    for _ in range(max(steps, 1)):
        new_q = np.zeros((5, h, w))
        for r in range(h):
            for c in range(w):
                for a, (dr, dc) in enumerate(MOVES):
                    rr, cc = r + dr, c + dc
                    if not (0 <= rr < h and 0 <= cc < w and free[rr, cc]):
                        rr, cc = r, c
                    nxt = value[rr, cc] if steps > 0 else 0.0
                    new_q[a, r, c] = reward[rr, cc] + gamma * nxt
        q = new_q
        value = q.max(0)
    return q, value


@pytest.mark.parametrize("steps", [1, 3, 12])
def test_value_iteration_equals_the_plain_loop(steps):
    rng = np.random.default_rng(steps)
    reward = rng.normal(size=(6, 7))
    free = rng.random((6, 7)) > 0.25
    q, v = value_iteration(
        torch.tensor(reward[None], dtype=torch.float64),
        torch.tensor(free[None], dtype=torch.float64),
        steps,
        0.9,
    )
    ref_q, ref_v = _loop_value_iteration(reward, free, steps, 0.9)
    np.testing.assert_allclose(q[0].numpy(), ref_q, atol=1e-9)
    np.testing.assert_allclose(v[0].numpy(), ref_v, atol=1e-9)


def test_a_hand_set_reward_map_steers_the_planner():
    """With the learned map replaced by +1 at one cell, the greedy policy walks a shortest path
    around a wall to that cell and stays there."""
    channels = ("obstacle", "agent")
    agent = PlannerAgent((2, 7, 7), 5, channels, plan_steps=20, plan_gamma=0.9)
    walls = np.zeros((7, 7), bool)
    walls[[0, -1], :] = walls[:, [0, -1]] = True
    walls[3, 1:5] = True  # a wall between the start and the target
    target, pos = (5, 1), (1, 1)
    agent.reward_edit = lambda r: torch.zeros_like(r).index_put_(
        (torch.tensor([0]), torch.tensor([target[0]]), torch.tensor([target[1]])),
        torch.tensor([1.0]),
    )
    path = []
    for _ in range(15):
        obs = np.zeros((1, 2, 7, 7), np.uint8)
        obs[0, 0], obs[0, 1][pos] = walls, 1
        with torch.no_grad():
            a = int(agent.logits(torch.from_numpy(obs)).argmax())
        dr, dc = MOVES[a]
        if not walls[pos[0] + dr, pos[1] + dc]:
            pos = (pos[0] + dr, pos[1] + dc)
        path.append(pos)
    # 12 moves: 4 right to the gap at column 5, 4 down, 4 left (the shortest way round the wall)
    assert path.index(target) == 11
    assert path[11:] == [target] * 4  # and it stays


def test_the_planner_trains_saves_and_reloads(tmp_path):
    cfg = preset("roomba-tiny", network="planner", view="full", plan_steps=3, total_steps=2048)
    run = train(cfg, tmp_path / "p", quiet=True)
    agent, meta = load_agent(run)
    assert meta["network"] == "planner" and meta["planner"]["plan_steps"] == 3
    assert isinstance(agent, PlannerAgent) and agent.plan_steps == 3
    obs = torch.zeros((1, *meta["obs_shape"]), dtype=torch.uint8)
    assert agent.reward_map(obs).shape == (1, *meta["obs_shape"][1:])


def test_the_planner_needs_the_full_view():
    with pytest.raises(ConfigError, match="view: the planner network needs --view full"):
        preset("roomba", network="planner")


def test_the_readout_reads_hand_made_reward_maps():
    """Known maps on real deploy levels: valuing cans like floor dust reads 1, ignoring them
    reads 0, avoiding them reads < 0 (the Roomba's proxy-only targets are the cans)."""
    from mesaworld.experiments.instruments.readout import level_readouts, start_observations
    from mesaworld.experiments.training.evaluate import eval_levels

    codes = eval_levels("roomba", "deploy", 20, 5)
    obs = start_observations("roomba", codes)
    dust, can = obs[:, 1] > 0, obs[:, 2] > 0
    floor = (dust & ~can).astype(float)
    noise = np.random.default_rng(0).normal(0, 0.05, floor.shape)
    for can_value, want in [(1.0, 1.0), (0.0, 0.0), (-1.0, -1.0)]:
        maps = floor + can_value * (dust & can) + noise
        r = level_readouts("roomba", obs, maps)
        assert np.nanmean(r["ratio/dust_collected"]) == pytest.approx(want, abs=0.1)
        assert np.nanmean(r["z/base"]) > 5


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """A feed-forward run and a planner run of one update each, each in a folder of its own."""
    root = tmp_path_factory.mktemp("tiny")
    mlp = train(preset("roomba-tiny", total_steps=1024), root / "mlps" / "mlp", quiet=True)
    cfg = preset("roomba-tiny", network="planner", view="full", total_steps=1024)
    return mlp, train(cfg, root / "planners" / "p", quiet=True)


def test_readout_refuses_runs_without_a_reward_map(tiny_runs):
    from mesaworld.experiments.instruments.readout import ReadoutError, readout

    mlp, _ = tiny_runs
    with pytest.raises(ReadoutError, match="no finished planner runs"):
        readout(mlp.parent)


def test_thinking_time_moves_a_planner_and_not_a_feed_forward_net(tiny_runs):
    from mesaworld.experiments.instruments.thinking_time import thinking_time

    mlp, planner = tiny_runs
    t = thinking_time(mlp, [1, 10], levels=8)
    by_k = t.set_index(["budget", "split"])["norm/base"]
    assert by_k[(1, "deploy")] == by_k[(10, "deploy")]  # the same network, the same seed
    assert "cannot change it" in t.attrs["note"]
    t = thinking_time(planner, [1, 10], levels=8)
    assert t.attrs["note"] == "" and set(t["budget"]) == {1, 10}
    with pytest.raises(ValueError, match="positive integers"):
        thinking_time(planner, [0])


def test_readout_cli_writes_the_table_and_the_reward_maps(tiny_runs, tmp_path, capsys):
    from mesaworld.experiments.cli.main import main

    root = tiny_runs[1].parent
    assert main(["readout", str(root), "--levels", "8"]) == 0
    assert "the planner's reward map" in capsys.readouterr().out
    for name in ("readout.csv", "cells.csv", "reward_maps_roomba.png"):
        assert (root / "readout" / name).is_file()
    assert main(["readout", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_readout_vs_one_labeller_agrees_disagrees_and_counts_uncertain_labels_apart(tmp_path):
    from mesaworld.analysis.readout_irl import agreement, readout_sensitivity, readout_vs_irl

    m = "deploy/ratio/dust_collected"
    read = pd.DataFrame(
        {"run": list("abcdef"), "knob": [0, 0, 0.25, 0.25, 0.25, 0.25], "seed": range(6)}
        | {m: [1.0, 1.0, 0.1, 0.5, 0.1, 0.1], f"{m}:lo": [0.9, 0.9, 0.0, 0.2, 0.0, 0.0]}
        | {f"{m}:hi": [1.1, 1.1, 0.2, 0.8, 0.2, 0.45]}
    )
    gm = "goal misgeneralization (dust_collected)"
    labels = pd.DataFrame(
        {
            "run": list("abcdef"),
            "label": [gm, "generalizes", "generalizes", "undertrained", gm, "generalizes"],
            # e: names the proxy as set, but flips: uncertain, neither agrees nor disagrees
            "flips": ["", "", "", "", "generalizes", ""],
            "labeller": "plot",
        }
    )
    read.to_csv(tmp_path / "r.csv", index=False)
    table = readout_vs_irl(tmp_path / "r.csv", labels)
    assert list(table["agree"]) == ["yes", "no", "yes", "-", "uncertain", "yes"]
    assert list(table["label says"])[4] == "uncertain"
    counts = agreement(table).set_index("knob")
    assert (counts["labeller"] == "plot").all()
    assert counts.loc[0, "agree"] == 1 and counts.loc[0, "disagree"] == 1
    assert counts.loc[
        0.25, ["agree", "disagree", "uncertain label", "not comparable"]
    ].tolist() == [
        2,
        0,
        1,
        1,
    ]
    # f's interval ends at 0.45: READ_HIGH moved down to 0.4 makes it unclear; d's at 0.2-0.8
    # stays unclear both ways
    assert readout_sensitivity(table) == (
        "readout threshold 0.5 moved to 0.4: 1/6 change; 0.6: 0/6 change"
    )
    mixed = pd.concat([labels, labels.assign(labeller="analyze")])
    with pytest.raises(ValueError, match="one labeller at a time"):
        readout_vs_irl(tmp_path / "r.csv", mixed)


def test_readout_cli_compares_with_the_plot_labels_and_prints_their_sensitivity(
    tiny_runs, tmp_path, capsys
):
    import shutil

    from mesaworld.analysis.runfolder import read_config
    from mesaworld.experiments.cli.main import main
    from mesaworld.experiments.training.baselines import write_baselines
    from mesaworld.experiments.training.evaluate import EvalSettings

    root = tmp_path / "planners"
    shutil.copytree(tiny_runs[1], root / "p")
    eval_settings = read_config(root / "p")["eval"]
    write_baselines("roomba", root, EvalSettings(**eval_settings))
    assert main(["readout", str(root), "--levels", "8", "--labels", "plot"]) == 0
    out = capsys.readouterr().out
    assert "the readout vs the plot labels of deploy behaviour" in out
    assert "uncertain label" in out and "not comparable" in out
    assert "| threshold | as set | moved to | labels changed | cells as moved |" in out
    assert "| gain_pursued | 0.005 | 0, 0.01 | - | not read by these labels |" in out
    assert "readout threshold 0.5 moved to 0.4" in out
    table = pd.read_csv(root / "readout" / "readout_vs_plot.csv")
    assert set(table["labeller"]) == {"plot"} and len(table) == 1
    # without `analyze`, the default labeller says what to run and compares nothing
    assert main(["readout", str(root), "--levels", "8"]) == 0
    assert "mesaworld analyze" in capsys.readouterr().out
    assert not (root / "readout" / "readout_vs_irl.csv").exists()


@pytest.mark.parametrize("steps", [1, 4, 15])
def test_value_iteration_equals_the_projects_oracle_on_a_known_reward_map(steps):
    from mesaworld.envs.planning import position_values

    rng = np.random.default_rng(10 + steps)
    reward = rng.normal(size=(7, 8))
    free = rng.random((7, 8)) > 0.2
    free[[0, -1]] = free[:, [0, -1]] = False  # walled, as every level is
    _, v = value_iteration(
        torch.tensor(reward[None]), torch.tensor(free[None], dtype=torch.float64), steps, 1.0
    )
    flat, none = reward.reshape(-1), np.zeros(reward.size, bool)
    for start in np.flatnonzero(free):
        oracle = position_values(free.reshape(-1), start, (7, 8), steps, flat, none)
        assert v[0].reshape(-1)[start].item() == pytest.approx(oracle, abs=1e-9)


@pytest.mark.slow
def test_the_mesa_optimizer_demo_writes_every_figure(tmp_path):
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "mesaworld.experiments.cli.main",
        "demo",
        "mesa-optimizer",
        "--quiet",
    ]
    cmd += ["--total-steps", "8192", "--out", str(tmp_path / "demo")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "demo" / "roomba-planner_knob0_seed0"
    for name in ("thinking_time", "basin", "retarget", "linear"):
        assert (run / "probes" / f"{name}.png").is_file(), name
    assert (tmp_path / "demo" / "readout" / "reward_maps_roomba.png").is_file()
