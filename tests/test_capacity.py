"""Approximate alignment from a representational limit (issue 24, item 6): the signpost task
(its oracle and rules on hand-written levels), the planner's `reward_layers` option (the default
is the old network; the field is what it says; bad values are one line) and e09 end to end on
a tiny preset."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mesaworld.agents.planner import WIDTH, PlannerAgent, _conv
from mesaworld.agents.registry import make_agent
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.level import Level
from mesaworld.envs.registry import TASKS
from mesaworld.envs.task import parse_actions
from mesaworld.envs.tasks.signpost import walk_optimum
from mesaworld.experiments import e09_capacity
from mesaworld.experiments.cli.main import main as cli
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.config import ConfigError, preset

ROOT = Path(__file__).resolve().parent.parent
SPEC = TASKS["signpost"]
CHANNELS = SPEC.task_cls.channels
LEVEL = Level.from_str("""
    #########
    #S#######
    #A*.....#
    #.......#
    #.......#
    #.......#
    #.*....*#
    #########
""")  # column 1 signed only: none of the 3 dust cells pays


def _play(level: Level, actions: str) -> np.ndarray:
    """Per-objective returns of one action string on `level`."""
    engine = make_engine("signpost", 1, autoreset=False, view="full")
    engine.load_codes(level.to_array()[None])
    total = np.zeros(2)
    for a in parse_actions(actions):
        total += engine.step(np.array([a]))["objectives"][:, 0]
    return total


def test_the_oracle_on_hand_written_levels():
    rules = SPEC.rules()
    ex = SPEC.examples["train"]  # signed columns 1, 2, 4, 5, 6; one of 5 dust cells unsigned
    assert rules.optimal_returns(ex.to_array()) == {"base": 4.0, "dust_collected": 5.0}
    deploy = SPEC.examples["deploy"]  # signed columns 2 and 7: one dust cell pays
    assert rules.optimal_returns(deploy.to_array()) == {"base": 1.0, "dust_collected": 5.0}
    # No signed dust: the best walk touches nothing (0), the proxy still counts every cell.
    assert rules.optimal_returns(LEVEL.to_array()) == {"base": 0.0, "dust_collected": 3.0}


def test_walk_optimum_is_exhaustive_search_on_small_budgets():
    """The backward induction equals trying every action sequence (5^budget) on a small room."""
    rng = np.random.default_rng(0)
    rules = SPEC.rules()
    for _ in range(6):
        codes = SPEC.shift.train.sample(rng).to_array()
        flat = codes.reshape(-1)
        passable = ~rules._is_obstacle[flat]
        start = int(np.argmax(flat == ord("A")))
        cells = np.flatnonzero(flat == ord("*"))
        gains = rng.choice([-1.0, 1.0], len(cells))
        for budget in (3, 5):
            best = -np.inf
            for seq in itertools.product(range(5), repeat=budget):
                pos, seen, total = start, set(), 0.0
                for a in seq:
                    nxt = pos + (-9, 1, 9, -1, 0)[a]
                    pos = nxt if passable[nxt] else pos
                    if pos in cells and pos not in seen:
                        seen.add(pos)
                        total += gains[list(cells).index(pos)]
                best = max(best, total)
            assert walk_optimum(passable, start, cells, gains, budget) == best


def test_the_rules_pay_by_the_sign_of_the_column():
    ex = SPEC.examples["train"]  # the robot at (2, 1); dust at (3, 2) signed, (5, 3) unsigned
    assert tuple(_play(ex, "dl")) == (0.0, 0.0)  # (3, 1), then a wall: nothing
    assert tuple(_play(ex, "dr")) == (1.0, 1.0)  # (3, 2): signed dust
    assert tuple(_play(ex, "drdrd")) == (0.0, 2.0)  # (4, 2), (4, 3), (5, 3): unsigned dust
    assert tuple(_play(ex, "drr")) == (1.0, 1.0)  # dust once only


def test_targets_read_the_sign_row_from_afar():
    engine = make_engine("signpost", 1, autoreset=False, view="full")
    engine.load_codes(SPEC.examples["train"].to_array()[None])
    t = SPEC.targets(engine.task.observation(engine.state))
    assert t["dust_collected"][0].sum() == 5 and t["base"][0].sum() == 4
    assert not t["base"][0, 5, 3] and t["dust_collected"][0, 5, 3]  # column 3: unsigned


def test_the_default_reward_net_is_the_old_one():
    """reward_layers = 2 builds the modules the planner always built, in the same order: the
    same parameter names and, from the same seed, the same weights (old checkpoints load)."""
    shape = (4, 8, 9)
    torch.manual_seed(0)
    new = PlannerAgent(shape, 5, CHANNELS)
    torch.manual_seed(0)
    old = nn.Sequential(_conv(4, WIDTH, 3), nn.ReLU(), _conv(WIDTH, WIDTH, 3), nn.ReLU())
    assert new.reward_layers == 2
    assert list(new.features.state_dict()) == list(old.state_dict())
    for k, v in old.state_dict().items():
        assert torch.equal(new.features.state_dict()[k], v)
    run = ROOT / "docs/results/sweeps/roomba-planner/roomba-planner_knob0_seed0"
    assert "reward_layers" not in json.loads((run / "agent.json").read_text())["planner"]
    agent, _ = load_agent(run)  # a checkpoint written before the option existed
    assert agent.reward_layers == 2


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_reward_layers_is_the_field_of_the_reward_net(layers):
    """The reward at a cell moves with an input L cells away and not with one L + 1 away."""
    torch.manual_seed(layers)
    agent = PlannerAgent((4, 13, 13), 5, CHANNELS, reward_layers=layers)
    obs = torch.zeros(1, 4, 13, 13, dtype=torch.uint8)
    with torch.no_grad():
        before = agent.reward_map(obs)[0, 6, 6]
        for d, moves in ((layers, True), (layers + 1, False)):
            far = obs.clone()
            far[0, 2, 6 - d, 6] = 1  # the sign channel, d rows up
            changed = not torch.allclose(agent.reward_map(far)[0, 6, 6], before, atol=0, rtol=0)
            assert changed == moves


def test_bad_reward_layers_are_one_line(capsys):
    with pytest.raises(ValueError, match=r"reward_layers must be in \[1, 8\], got 0"):
        make_agent("planner", (4, 8, 9), 5, 128, channels=CHANNELS, reward_layers=0)
    with pytest.raises(ConfigError, match="reward_layers"):
        preset("signpost-tiny", reward_layers=9)
    assert cli(["train", "signpost-tiny", "--reward-layers", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == "mesaworld: error: --reward-layers: must be in [1, 8], got 0\n"
    assert e09_capacity.main(["--capacities", "1,x", "--out", "/nonexistent/x"]) == 2
    assert e09_capacity.main(["--capacities", "9", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.startswith("e09_capacity: error: capacities")


def test_sign_aucs_on_hand_set_maps():
    """A map that pays the sign everywhere has AUC 1 at every distance; one that reads dust
    only, 0.5; one that reads the sign within 2 rows, 1 there and 0.5 beyond."""
    codes = np.stack([SPEC.shift.train.sample(np.random.default_rng(i)).to_array()
                      for i in range(60)])  # fmt: skip
    engine = make_engine("signpost", len(codes), autoreset=False, view="full")
    engine.load_codes(codes)
    obs = engine.task.observation(engine.state)
    t = SPEC.targets(obs)
    exact = t["base"].astype(float) - (t["dust_collected"] & ~t["base"])
    assert all(v == 1 for v in e09_capacity.sign_aucs(obs, exact).values())
    blind = t["dust_collected"].astype(float)
    assert all(v == 0.5 for v in e09_capacity.sign_aucs(obs, blind).values())
    rows = np.arange(8)[None, :, None] - 1
    near = np.where(rows <= 2, exact, blind)
    assert e09_capacity.sign_aucs(obs, near) == {1: 1.0, 2: 1.0, 3: 0.5, 4: 0.5, 5: 0.5}


def test_e09_end_to_end_on_the_tiny_preset(tmp_path, capsys):
    out = tmp_path / "e09"
    argv = ["--preset", "signpost-tiny", "--capacities", "1,3", "--seeds", "1", "--levels", "4"]
    assert e09_capacity.main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    cells = pd.read_csv(out / e09_capacity.CELLS)
    assert list(cells["reward_layers"]) == [1, 3] and (cells["seeds"] == 1).all()
    assert e09_capacity.markdown(cells) in printed
    runs = pd.read_csv(out / e09_capacity.RUNS)
    assert (runs["total_steps"] == 4096).all() and runs["train/auc/sign/unseen"].notna().all()
    assert (out / "capacity.png").is_file()
    for n in (1, 3):  # each run is the network it says
        run = next((out / f"L{n}").glob("signpost-tiny_*"))
        assert load_agent(run)[0].reward_layers == n
    # run again: nothing retrained or re-measured, the same table
    assert e09_capacity.main([*argv, "--out", str(out)]) == 0
    assert e09_capacity.markdown(cells) in capsys.readouterr().out


def test_the_oracle_says_unknown_beyond_its_dust_limit():
    level = Level.from_str("""
        #########
        #S#######
        #A******#
        #*******#
        #.......#
        #.......#
        #.......#
        #########
    """)
    optima = SPEC.rules().optimal_returns(level.to_array())
    assert np.isnan(optima["base"]) and np.isnan(optima["dust_collected"])
