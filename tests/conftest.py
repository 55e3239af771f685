"""Shared set-up: one torch/BLAS thread; every registered mesaworld id, discovered from
Gymnasium's registry; tiny runs that tests in several files only read (or copy, then edit)."""

import os

# One thread for torch and BLAS, in this process and in the commands the tests start: the suite
# runs serially, and with 2 threads a torch op beside another busy core waits for it (up to ~10x
# slower, benchmarks/train_throughput.py; training already uses 1 by default). Set before torch
# or numpy is imported (torch reads OMP_NUM_THREADS then); a value already set wins.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import gc  # noqa: E402

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402

import mesaworld.envs  # noqa: E402, F401  (registers the ids)

ALL_IDS = sorted(i for i in gym.registry if i.startswith("mesaworld/"))
VIEWS = ("full", "egocentric")


def pytest_collection_finish(session):
    """Everything imported and collected so far (torch, scipy, pandas, matplotlib, every test
    module: ~300k objects) lives to the end of the session: moved out of the garbage collector's
    generations, so a full collection during a test no longer walks them (~2% of the suite)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(params=ALL_IDS)
def env_id(request) -> str:
    return request.param


@pytest.fixture(params=VIEWS)
def view(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def storeroom_tiny_run(tmp_path_factory):
    """A finished `storeroom-tiny` run (seed 1, one update), trained once for the tests that
    only read it (the capability and approximate-alignment instruments, a run of another task)."""
    from mesaworld.experiments.training.config import preset
    from mesaworld.experiments.training.trainer import train

    run = tmp_path_factory.mktemp("storeroom") / "run"
    return train(preset("storeroom-tiny", seed=1, total_steps=1024), run, quiet=True)


@pytest.fixture(scope="session")
def roomba_recurrent_tiny_run(tmp_path_factory):
    """A finished recurrent Roomba run (full view, one update of 16 envs x 16 steps, 8
    evaluation levels), trained once for test_agent_json.py (which edits copies) and
    test_probes.py (which reads it): no test needs skill."""
    from mesaworld.experiments.training.config import preset
    from mesaworld.experiments.training.trainer import train

    kw = {"eval_levels": 8, "num_envs": 16, "total_steps": 256}
    cfg = preset("roomba-tiny", network="recurrent", view="full", **kw)
    return train(cfg, tmp_path_factory.mktemp("recurrent") / "run", quiet=True)


@pytest.fixture(scope="session")
def roomba_planner_tiny_run(tmp_path_factory):
    """A finished planner Roomba run (full view, one update of 64 envs x 16 steps, 8 evaluation
    levels), trained once; test_probes.py and test_figure_legibility.py each use a copy."""
    from mesaworld.experiments.training.config import preset
    from mesaworld.experiments.training.trainer import train

    kw = {"total_steps": 1024, "eval_levels": 8}
    cfg = preset("roomba-tiny", network="planner", view="full", **kw)
    return train(cfg, tmp_path_factory.mktemp("planner") / "run", quiet=True)
