"""Shared fixtures: every registered mesaworld id, discovered from Gymnasium's registry."""

import gymnasium as gym
import pytest

import mesaworld.envs  # noqa: F401  (registers the ids)

ALL_IDS = sorted(i for i in gym.registry if i.startswith("mesaworld/"))
VIEWS = ("full", "egocentric")


@pytest.fixture(params=ALL_IDS)
def env_id(request) -> str:
    return request.param


@pytest.fixture(params=VIEWS)
def view(request) -> str:
    return request.param
