"""The recurrent planner (`mesaworld.agents.recurrent`): its memory resets at episode starts, PPO's
sequence unroll equals stepping, and recurrent training resumes to the uninterrupted numbers."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from mesaworld.agents.recurrent import ConvLSTMAgent
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.config import ConfigError, preset
from mesaworld.experiments.training.evaluate import TorchPolicy
from mesaworld.experiments.training.trainer import train

CHANNELS = ("obstacle", "dust", "can", "agent", "bin_space")
TINY = preset(
    "roomba-tiny",
    network="recurrent",
    view="full",
    num_envs=16,
    num_minibatches=4,
    ticks=2,
    total_steps=768,  # 3 updates of 16 x 16: resumed after the 2nd
    eval_levels=6,
)


def _obs(*lead):
    """Random observations (any cell may hold the agent: the head reads at the first)."""
    return torch.randint(0, 2, (*lead, 5, 9, 9), dtype=torch.uint8)


def _agent(ticks=2):
    torch.manual_seed(0)
    return ConvLSTMAgent((5, 9, 9), 5, 32, CHANNELS, ticks)


def test_unroll_equals_stepping_and_first_resets_the_memory():
    agent = _agent()
    obs = _obs(6, 3)
    first = torch.zeros(6, 3, dtype=torch.bool)
    first[0] = True
    first[4, 1] = True  # env 1 starts a new episode at t = 4
    logits, values = agent.unroll(obs, agent.initial_memory(3), first)
    memory = agent.initial_memory(3)
    for t in range(6):
        lg, v, memory = agent.step(obs[t], memory, first[t])
        torch.testing.assert_close(lg, logits[t])
        torch.testing.assert_close(v, values[t])
    # After a reset the output depends on nothing before it: a fresh memory gives the same.
    fresh, _, _ = agent.step(obs[4, 1:2], torch.randn(1, *memory.shape[1:]), first[4, 1:2])
    again, _ = agent.unroll(obs[4:5, 1:2], agent.initial_memory(1), first[4:5, 1:2])
    torch.testing.assert_close(fresh, again[0])


def test_memory_carries_information_across_steps():
    agent = _agent()
    a, b = (_obs(1) for _ in range(2))
    same = torch.zeros(1, 5, 9, 9, dtype=torch.uint8)
    no = torch.zeros(1, dtype=torch.bool)
    _, _, mem_a = agent.step(a, agent.initial_memory(1), torch.ones(1, dtype=torch.bool))
    _, _, mem_b = agent.step(b, agent.initial_memory(1), torch.ones(1, dtype=torch.bool))
    la, _, _ = agent.step(same, mem_a, no)
    lb, _, _ = agent.step(same, mem_b, no)
    assert not torch.allclose(la, lb)  # the same observation, different pasts


def _log(run):
    log = pd.read_csv(run / "train_log.csv")
    return log[[c for c in log.columns if not c.startswith("time/")]]


def test_recurrent_training_resumes_exactly(tmp_path):
    whole = train(TINY, tmp_path / "whole", quiet=True)
    cut = tmp_path / "cut"
    train(TINY, cut, quiet=True, stop_after=2)  # "interrupted" mid-training
    train(TINY, cut, resume=True, quiet=True)
    pd.testing.assert_frame_equal(_log(whole), _log(cut))
    pd.testing.assert_frame_equal(
        pd.read_csv(whole / "episodes.csv"), pd.read_csv(cut / "episodes.csv")
    )
    agent, meta = load_agent(cut)
    assert isinstance(agent, ConvLSTMAgent) and meta["recurrent"]["ticks"] == 2


def test_evaluation_keeps_the_memory_between_steps():
    agent = _agent()
    policy = TorchPolicy(agent, "full")
    obs = _obs(2).numpy()
    policy.begin(2)
    first = policy.logits(obs)
    second = policy.logits(obs)
    assert not torch.allclose(first, second)  # the memory moved on
    policy.begin(2)
    torch.testing.assert_close(policy.logits(obs), first)


def test_bad_recurrent_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="num_envs .* divisible by num_minibatches"):
        preset("roomba-tiny", network="recurrent", view="full", num_envs=10, num_minibatches=4)
    with pytest.raises(ConfigError, match="ticks: must be in \\[1, 100\\]"):
        preset("roomba-tiny", network="recurrent", view="full", ticks=0)
