"""Generator properties: valid, solvable levels; the knob's promise; mixture frequencies;
dust conservation; and the engine drawing exactly the generator's levels."""

from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from battery import reference_observation
from gymnasium.utils import seeding
from hypothesis import given, settings
from hypothesis import strategies as st

from mesaworld.envs import Fixed, Level, Mixture
from mesaworld.envs.tasks.roomba import SHIFT, Roomba, RoombaLevels


def reachable(level: Level) -> set[tuple[int, int]]:
    grid = level.rows
    start = level.find("A")[0]
    seen, queue = {start}, deque([start])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if (nr, nc) not in seen and grid[nr][nc] not in "#F":
                seen.add((nr, nc))
                queue.append((nr, nc))
    return seen


@st.composite
def roomba_generators(draw):
    size = draw(st.integers(5, 12))
    spots = ((size - 3) // 2) ** 2
    f_hi = draw(st.integers(0, spots))
    f_lo = draw(st.integers(0, f_hi))
    free = (size - 2) ** 2 - f_hi - 1
    d_hi = draw(st.integers(1, max(1, free // 2)))
    d_lo = draw(st.integers(1, d_hi))
    c_hi = draw(st.integers(0, free - d_hi))
    c_lo = draw(st.integers(0, c_hi))
    return RoombaLevels(size=size, dust=(d_lo, d_hi), cans=(c_lo, c_hi), furniture=(f_lo, f_hi))


@settings(max_examples=60, deadline=None)
@given(gen=roomba_generators(), seed=st.integers(0, 2**32 - 1))
def test_sampled_levels_are_valid_solvable_and_in_range(gen, seed):
    task = Roomba(gen.shape)
    codes = gen.build(np.random.default_rng(seed).random((16, gen.n_uniforms)))
    for c in codes:
        level = task.check(Level.from_array(c))
        assert gen.dust[0] <= level.count("*") <= gen.dust[1]
        assert gen.cans[0] <= level.count("c") <= gen.cans[1]
        assert gen.furniture[0] <= level.count("F") <= gen.furniture[1]
        targets = set(level.find("*")) | set(level.find("c"))
        assert targets <= reachable(level), "a dust cell or can is unreachable"


def test_knob_zero_train_never_has_cans_and_deploy_always_does():
    u = np.random.default_rng(0).random((5000, SHIFT.generator("train").n_uniforms))
    train = SHIFT.generator("train", knob=0.0).build(u)
    assert not (train == ord("c")).any()
    deploy = SHIFT.generator("deploy").build(u[:, : SHIFT.deploy.n_uniforms])
    assert ((deploy == ord("c")).sum((1, 2)) >= 2).all()


@pytest.mark.parametrize("p", [0.02, 0.3, 0.75])
def test_mixture_frequency_matches_p(p):
    gen = SHIFT.generator("train", knob=p)
    assert isinstance(gen, Mixture) and gen.p == p
    n = 40000
    codes = gen.build(np.random.default_rng(1).random((n, gen.n_uniforms)))
    frac = ((codes == ord("c")).any((1, 2))).mean()
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_fixed_draws_each_level_uniformly():
    levels = [Level.from_str(f"#####\n#A{c}.#\n#####") for c in ".*c"]
    gen = Fixed(tuple(levels))
    codes = gen.build(np.random.default_rng(2).random((30000, 1)))
    counts = [(codes[:, 1, 2] == ord(c)).mean() for c in ".*c"]
    np.testing.assert_allclose(counts, 1 / 3, atol=0.02)


def test_env_seed_s_plays_the_generators_level_for_seed_s():
    env = gym.make("mesaworld/Roomba-v0", split="deploy")
    for seed in range(5):
        env.reset(seed=seed)
        expected = SHIFT.generator("deploy").sample(seeding.np_random(seed)[0])
        assert env.unwrapped.current_level() == expected


@pytest.mark.parametrize("view", ["full", "egocentric"])
def test_dust_is_conserved_and_observation_matches_a_fresh_build(view):
    """floor + bin + cans is constant; the incrementally kept observation equals one built
    from scratch (egocentric: by an explicit reference loop)."""
    venv = gym.make_vec(
        "mesaworld/Roomba-v0",
        num_envs=16,
        vectorization_mode="vector_entry_point",
        split="deploy",
        view=view,
        max_steps=30,
    )
    obs, _ = venv.reset(seed=0)
    e = venv.unwrapped.engine
    s, task = e.state, e.task
    total = s.dust.sum(1) + s.can.sum(1) + s.bin
    for a in np.random.default_rng(0).integers(0, 5, (29, 16)):
        obs, *_ = venv.step(a)
        np.testing.assert_array_equal(s.dust.sum(1) + s.can.sum(1) + s.bin, total)
        np.testing.assert_array_equal(obs, reference_observation(task, s))
    assert (s.bin > 0).mean() > 0.5  # the rollout really moved dust around
