"""Level samplers (experiments/training/samplers): exact regret, replay priorities, exact resume,
the default DR path unchanged, bad names refused in one line."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesaworld.envs.engine import Engine
from mesaworld.envs.generators import as_generator
from mesaworld.envs.level import AGENT, FLOOR, WALL, Level
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tasks.cheese_maze import CheeseMaze
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training.config import ConfigError, TrainConfig, preset
from mesaworld.experiments.training.samplers.accel import edit_level
from mesaworld.experiments.training.samplers.registry import (
    SAMPLERS,
    _pool_key,
    make_sampler,
    pool_origin,
)
from mesaworld.experiments.training.samplers.sampler import make_pool
from mesaworld.experiments.training.trainer import train

# Cheese reached in one step to the right | reachable, but only leftwards | walled off.
LEVELS = [
    Level.from_str(t)
    for t in (
        "#####\n#AC.#\n#.#.#\n#...#\n#####",
        "#####\n#C.A#\n#.#.#\n#...#\n#####",
        "#####\n#A#C#\n#.#.#\n#.#.#\n#####",
    )
]
RIGHT = 1


def _engine(sampler_name: str, levels, num_envs: int, seed: int = 0):
    task = CheeseMaze((5, 5), max_steps=10)
    codes = np.stack([lv.to_array() for lv in levels])
    engine = Engine(task, as_generator(levels), num_envs, autoreset=True)
    sampler = SAMPLERS[sampler_name].make(codes, task, num_envs, seed)
    engine.level_source = sampler
    engine.reset()
    return engine, sampler


def _walk_right(engine, steps: int) -> list[tuple[int, int, float]]:
    """Step every env right; (step, env, base return) of every episode that ended."""
    ended = []
    for t in range(steps):
        out = engine.step(np.full(engine.num_envs, RIGHT, np.int64))
        for i in np.flatnonzero(out["done"]):
            ended.append((t, int(i), float(out["episode_returns"][0, i])))
    return ended


def test_exact_regret_is_the_oracle_optimum_minus_the_return():
    engine, sampler = _engine("dr", LEVELS, num_envs=3)
    ended = _walk_right(engine, 40)
    assert ended and (sampler.episodes > 0).all()  # every level was played to its end
    # The oracle by hand: cheese reachable within 10 steps in levels 0 and 1, walled off in 2;
    # always walking right reaches it in level 0 only.
    np.testing.assert_array_equal(sampler.optimum, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(sampler.last_return, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(sampler.regret, [0.0, 1.0, 0.0])
    for lv, level in enumerate(LEVELS):  # and it is the task's own oracle
        assert sampler.optimum[lv] == engine.task.optimal_returns(level.to_array())["base"]


def test_plr_replays_a_high_regret_level_more_often_than_a_zero_regret_one():
    engine, sampler = _engine("plr-regret", LEVELS[:2], num_envs=2, seed=3)
    _walk_right(engine, 40)
    assert list(sampler.regret) == [0.0, 1.0]
    levels, train = sampler.choose(4000)  # every level drawn already: all replays
    count = np.bincount(levels, minlength=2)
    # P = 0.7 P_rank + 0.3 P_stale: the regret-1 level has rank 1 (mass 0.91 of P_rank).
    assert train.all() and count[1] > 1.5 * count[0] > 0, count


def test_robust_plr_does_not_train_on_its_exploration_episodes():
    engine, sampler = _engine("plr", [*LEVELS, *LEVELS], num_envs=2, seed=0)
    assert not sampler.trained.any()  # the first draws explore never-seen levels
    _walk_right(engine, 4)
    t, b = 4, 2
    mask = sampler.end_rollout(
        np.zeros((t + 1, b)), np.ones((t, b)), np.zeros((t, b)), np.ones((t, b), bool)
    )
    assert mask.shape == (t, b) and not mask[0].any()


def _cfg(sampler: str, **kw) -> TrainConfig:
    return preset(
        "cheese-maze",
        num_envs=16,
        num_steps=16,
        total_steps=16 * 16 * 4,
        eval_levels=10,
        checkpoint_every=1,
        sampler=sampler,
        pool_size=40,
        **kw,
    )


def _log(run):
    log = pd.read_csv(run / "train_log.csv")
    return log[[c for c in log.columns if not c.startswith("time/")]]


@pytest.mark.parametrize("name", ["plr", "regret", "accel"])
def test_a_sampler_resumes_exactly_after_a_kill(tmp_path, name):
    whole = train(_cfg(name), tmp_path / "whole", quiet=True)
    cut = tmp_path / "cut"
    train(_cfg(name), cut, quiet=True, stop_after=2)  # "killed" after 2 of 4 updates
    train(_cfg(name), cut, resume=True, quiet=True)
    pd.testing.assert_frame_equal(_log(whole), _log(cut))
    pd.testing.assert_frame_equal(
        pd.read_csv(whole / "episodes.csv"), pd.read_csv(cut / "episodes.csv")
    )
    levels = pd.read_csv(cut / "sampler_levels.csv")  # the per-level record, also resumed
    pd.testing.assert_frame_equal(levels, pd.read_csv(whole / "sampler_levels.csv"))
    played = levels[levels["episodes"] > 0]
    assert len(played) >= 1  # (100-step episodes: few end in 4 updates of 16 steps)
    np.testing.assert_allclose(played["regret"], played["optimum"] - played["last_return"])
    assert levels.loc[levels["drawn"] > 0, ["pvl", "maxmc"]].notna().mean().min() > 0.5
    if name == "plr":  # the sampler is in effect: DR on the same pool trains otherwise
        dr = train(_cfg("dr"), tmp_path / "dr", quiet=True)
        assert not _log(dr).equals(_log(whole))


def test_the_default_dr_path_is_unchanged(tmp_path):
    """No sampler: the engine draws from the generator as before samplers existed. The reference
    files in tests/data/samplers were written by the commit before samplers (9ae53b3). The
    episodes are compared exactly; the training log (losses: float sums whose last bits differ
    between CPUs, so a digest of it held on one machine only) to a relative 1e-4."""
    cfg = preset("cheese-maze", num_envs=16, num_steps=16, total_steps=16 * 16 * 3, eval_levels=10)
    assert cfg.sampler == "dr" and cfg.pool_size == 0
    task = CheeseMaze((13, 13), max_steps=100)
    assert make_sampler("dr", 0, 0.5, None, task, 16, 0) is None
    run = train(cfg, tmp_path / "dr", quiet=True)
    before = Path(__file__).parent / "data" / "samplers"
    pd.testing.assert_frame_equal(
        pd.read_csv(run / "episodes.csv"), pd.read_csv(before / "dr_before_samplers_episodes.csv")
    )
    pd.testing.assert_frame_equal(
        _log(run),
        pd.read_csv(before / "dr_before_samplers_train_log.csv"),
        check_exact=False,
        rtol=1e-4,
        atol=1e-7,
    )


def test_an_unknown_sampler_is_one_line(capsys, tmp_path):
    with pytest.raises(ConfigError, match=r"^sampler: unknown sampler 'nope'; known: dr, plr"):
        TrainConfig(task="cheese-maze", sampler="nope")
    with pytest.raises(ConfigError, match="replay_prob"):
        TrainConfig(task="cheese-maze", sampler="plr", replay_prob=1.5)
    out = tmp_path / "out"
    assert main(["train", "cheese-maze", "--sampler", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown sampler 'nope'" in err, err
    assert not out.exists()


@pytest.mark.parametrize("task", ["cheese-maze", "roomba", "keys-chests"])
def test_accel_edits_are_levels_the_task_accepts_with_the_same_objects(task):
    spec = TASKS[task]
    rules = spec.rules()
    rng = np.random.default_rng(0)
    changed = 0
    for codes in make_pool(spec.shift.generator("train"), 20, 1):
        child = edit_level(codes, rng, 5)
        rules.check(Level.from_array(child))  # raises if the task refuses it
        changed += not np.array_equal(child, codes)
        moved = {ord(c) for c in (WALL, FLOOR, AGENT)}
        for ch in set(np.unique(codes)) - moved:  # objects: same cells, untouched
            np.testing.assert_array_equal(child == ch, codes == ch)
    assert changed >= 15


@pytest.mark.parametrize("num_envs", [2, 8])
def test_accel_plays_edited_levels_in_training(num_envs):
    engine, sampler = _engine("accel-regret", LEVELS[:2], num_envs=num_envs, seed=0)
    _walk_right(engine, 60)
    assert sampler.size > 2 and sampler.rejected == 0  # children were made and played
    for codes in sampler.codes[: sampler.size]:
        engine.task.check(Level.from_array(codes))


def test_pool_alpha_puts_exactly_that_many_deploy_levels_in_the_pool():
    spec = TASKS["roomba"]
    train_gen, deploy = spec.shift.generator("train", 0.0), spec.shift.generator("deploy")
    for alpha, expect in ((0.0, 0), (0.05, 10), (0.013, 3)):
        sampler = make_sampler(
            "dr", 200, 0.5, train_gen, spec.rules(), 4, 7, pool_alpha=alpha, deploy=deploy
        )
        with_cans = (sampler.codes == ord("c")).any(axis=(1, 2))  # every deploy room has cans
        assert with_cans.sum() == expect
        np.testing.assert_array_equal(pool_origin(7, 200, alpha), with_cans)
    assert not with_cans[-3:].all()  # shuffled into the pool, not appended
    with pytest.raises(ConfigError, match="^pool_alpha: needs a pool"):
        TrainConfig(task="roomba", pool_alpha=0.1)


def test_a_pool_seen_again_in_the_process_reuses_its_optima_and_a_new_pool_does_not(
    monkeypatch,
):
    from mesaworld.experiments.training.samplers import registry

    spec = TASKS["roomba"]
    train_gen, deploy = spec.shift.generator("train", 0.0), spec.shift.generator("deploy")
    solved = []

    def pool(name: str, seed: int, task):
        real = task.optimal_returns
        monkeypatch.setattr(task, "optimal_returns", lambda c: solved.append(1) or real(c))
        return make_sampler(name, 50, 0.5, train_gen, task, 4, seed, pool_alpha=0.1, deploy=deploy)

    registry._OPTIMA.clear()
    first = pool("dr", 3, spec.rules())
    assert len(solved) == 50
    again = pool("sfl", 3, spec.rules())  # the same pool: the cache, no oracle call
    assert len(solved) == 50
    np.testing.assert_array_equal(first.optimum, again.optimum)
    assert again.optimum is not first.optimum
    short = spec.task_cls(spec.shift.train.shape, max_steps=5)  # another horizon: solved again
    assert _pool_key(short, first.codes) != _pool_key(spec.rules(), first.codes)
    shorter = pool("dr", 3, short)
    assert len(solved) == 100 and (shorter.optimum <= first.optimum).all()
    assert (shorter.optimum < first.optimum).any()
    other = pool("dr", 4, spec.rules())  # another seed, another pool: its own optima
    expect = [spec.rules().optimal_returns(c)["base"] for c in other.codes]
    np.testing.assert_array_equal(other.optimum, np.asarray(expect, float))
