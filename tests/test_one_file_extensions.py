"""An architecture is one file and one row; so is an instrument. Each is defined here, in the
test file, registered with one call, and used through the generic code that iterates the tables
(train, save, reload, probe; `mesaworld probe <name>`), touching nothing else."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mesaworld.agents.architecture import Architecture, Option
from mesaworld.agents.registry import ARCHITECTURES, register_architecture
from mesaworld.agents.sampling import act
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.instruments.instrument import Instrument, ProbeSettings
from mesaworld.experiments.instruments.probe_runner import with_references
from mesaworld.experiments.instruments.registry import INSTRUMENTS, measure, register_instrument
from mesaworld.experiments.instruments.rollouts import play
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.trainer import train


# --- an architecture in one file: a linear policy that "thinks" by repeating a residual layer
class Repeater(nn.Module):
    def __init__(self, obs_shape, n_actions, hidden, passes: int = 1) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(obs_shape)), hidden))
        self.mix = nn.Linear(hidden, hidden)
        self.actor, self.critic = nn.Linear(hidden, n_actions), nn.Linear(hidden, 1)
        self.passes = passes  # the thinking budget: same weights, more passes

    def _trunk(self, obs):
        h = torch.tanh(self.inp(obs.float()))
        for _ in range(self.passes):
            h = torch.tanh(h + self.mix(h))
        return h

    def get_value(self, obs):
        return self.critic(self._trunk(obs)).squeeze(-1)

    def logits(self, obs):
        return self.actor(self._trunk(obs))

    def get_action_and_value(self, obs, action=None, generator=None):
        h = self._trunk(obs)
        return act(self.actor(h), self.critic(h).squeeze(-1), action, generator)


REPEATER = Architecture(
    name="test-repeater",
    build=Repeater,
    doc="a residual layer applied `passes` times",
    options=(Option("passes", int, 1, 8, doc="residual passes"),),
    budget="passes",
)


# --- an instrument in one file: how long the agent's episodes last, beside the references
def _lengths(who, task, codes, seed, is_run):
    played = play(who, task, codes, seed)
    table = pd.DataFrame({"agent": [who.name], "mean_length": [float(np.mean(played.length))]})
    return table, f"mean episode length {table['mean_length'][0]:.1f}"


EPISODE_LENGTH = Instrument(
    name="test-episode-length",
    measures="how many steps the agent's episodes last",
    run=lambda run, settings: with_references(run, settings, _lengths),
    figure=lambda table, path, title="": [],
    columns=("agent", "mean_length"),
    headline=lambda table: {"length": float(table["mean_length"].iloc[0])},
)


@pytest.fixture(scope="module")
def repeater_run(tmp_path_factory):
    register_architecture(REPEATER)
    cfg = preset("roomba-tiny", network="test-repeater", total_steps=1024, eval_levels=8)
    run = train(cfg, tmp_path_factory.mktemp("arch") / "run", quiet=True)
    yield run
    ARCHITECTURES.pop("test-repeater")


def test_a_new_architecture_trains_saves_reloads_and_takes_another_budget(repeater_run):
    meta = json.loads((repeater_run / "agent.json").read_text())
    assert meta["network"] == "test-repeater" and "test-repeater" not in meta  # default options
    agent, _ = load_agent(repeater_run)
    assert isinstance(agent, Repeater) and agent.passes == 1
    table, verdicts = measure("thinking-time", repeater_run, ProbeSettings(8, budgets=(1, 3)))
    assert set(table["budget"]) == {1, 3} and table.attrs["budget"] == "passes"
    with pytest.raises(ValueError, match="passes must be in"):
        measure("thinking-time", repeater_run, ProbeSettings(8, budgets=(1, 9)))
    basin, _ = measure("basin", repeater_run, ProbeSettings(8))
    assert basin["agent"].nunique() == 3  # the run and the two references


def test_a_new_instrument_runs_from_the_command_line(repeater_run, capsys):
    register_instrument(EPISODE_LENGTH)
    try:
        assert main(["probe", "test-episode-length", str(repeater_run), "--levels", "4"]) == 0
        out = capsys.readouterr().out
        assert "mean episode length" in out and "reference optimizer" in out
        assert (repeater_run / "probes" / "test_episode_length.csv").is_file()
    finally:
        INSTRUMENTS.pop("test-episode-length")


def test_an_instrument_refuses_an_agent_it_does_not_apply_to(repeater_run, capsys):
    # retarget needs a reward map or a spatial layer; the repeater is flat: one line, exit 2
    assert main(["probe", "retarget", str(repeater_run), "--levels", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "retarget: a test-repeater network has no reward map" in err
