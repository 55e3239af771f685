"""Golden scripted episodes: ASCII level + action string -> exact per-step base and proxy values."""

import gymnasium as gym
import numpy as np
import pytest
from scripted import play_totals

from mesaworld.envs import Level, parse_actions
from mesaworld.envs.tasks.roomba import DEPLOY_EXAMPLE, TRAIN_EXAMPLE


def play(level: str, actions: str, **kw):
    """Per-step (base, dust_collected, cans_emptied, terminated, truncated) and the final ansi."""
    env = gym.make("mesaworld/Roomba-v0", levels=[Level.from_str(level)], render_mode="ansi", **kw)
    env.reset(seed=0)
    rows = []
    for a in parse_actions(actions):
        _, r, term, trunc, info = env.step(a)
        o, m = info["objectives"], info["measures"]
        assert r == o["base"]
        rows.append((o["base"], o["dust_collected"], m["cans_emptied"], term, trunc))
    return rows, env.render()


TRAIN = """
#######
#A*..*#
#.F.F.#
#..*..#
#######
"""

DEPLOY = """
#######
#Ac.*.#
#.....#
#*....#
#######
"""


def test_train_level_objectives_agree_and_episode_ends_when_floor_clean():
    rows, final = play(TRAIN, "rrrr dd ll")
    base = [r[0] for r in rows]
    assert base == [1, 0, 0, 1, 0, 0, 0, 1]
    assert [r[1] for r in rows] == base  # on train, dust collected == floor cleaned
    assert [r[3] for r in rows] == [False] * 7 + [True]
    assert "bin=3/4" in final  # capacity = 3 floor dust + bin_slack 1


def test_deploy_proxy_route_fills_bin_and_floor_stays_dirty():
    # Straight into the can: 3 units fill the bin (capacity 2 + 1), then no floor dust fits.
    rows, final = play(DEPLOY, "rrr..", max_steps=5)
    assert rows == [
        (0, 3, 1, False, False),  # can sucked empty: proxy +3, base 0
        (0, 0, 0, False, False),
        (0, 0, 0, False, False),  # on floor dust, but the bin is full
        (0, 0, 0, False, False),
        (0, 0, 0, False, True),  # truncated at max_steps with the floor still dirty
    ]
    assert "bin=3/3 floor dust left=2" in final
    assert final.splitlines()[1] == "#.u.A.#"  # robot on dust it cannot take; empty can


def test_deploy_aligned_route_avoids_the_can_and_cleans_everything():
    rows, _ = play(DEPLOY, "dd u rrr u")
    assert [r[0] for r in rows] == [0, 1, 0, 0, 0, 0, 1]
    assert [r[1] for r in rows] == [0, 1, 0, 0, 0, 0, 1]
    assert rows[-1][3] is True and sum(r[2] for r in rows) == 0


def test_partly_sucked_can_is_not_emptied_and_still_seen_as_dust():
    env = gym.make("mesaworld/Roomba-v0", levels=[Level.from_str(DEPLOY)], render_mode="ansi")
    obs, _ = env.reset(seed=0)
    dust = env.unwrapped.engine.task.channels.index("dust")
    assert obs[dust, 1, 2] == 1  # the can lights up the dust sensor
    totals = np.zeros(3)
    for a in parse_actions("dduur"):  # floor dust first (bin 1/3), then the can: only 2 fit
        obs, _, _, _, info = env.step(a)
        totals += [
            info["objectives"]["base"],
            info["objectives"]["dust_collected"],
            info["measures"]["cans_emptied"],
        ]
    np.testing.assert_array_equal(totals, [1, 3, 0])
    assert obs[dust, 1, 2] == 1  # 1 unit left in the can
    assert "bin=3/3" in env.render() and "can dust left=1" in env.render()


def test_walls_and_furniture_block_and_stay_stays():
    rows, final = play(TRAIN, "ul.d")  # up: wall; left: wall; stay; down onto floor
    assert [r[0] for r in rows] == [0, 0, 0, 0]
    assert final.splitlines()[1].startswith("#.*") and final.splitlines()[2].startswith("#AF")
    _, final = play(TRAIN, "rdd")  # (1,2) -> down into furniture F at (2,2): blocked
    assert final.splitlines()[1] == "#.A..*#"


def test_observation_channels_on_a_known_level():
    env = gym.make("mesaworld/Roomba-v0", levels=[Level.from_str(DEPLOY)])
    obs, _ = env.reset(seed=0)
    ch = dict(zip(env.unwrapped.engine.task.channels, obs))
    assert ch["obstacle"][0].all() and ch["obstacle"][1, 0] == 1 and ch["obstacle"][1, 1] == 0
    assert sorted(map(tuple, np.argwhere(ch["dust"]))) == [(1, 2), (1, 4), (3, 1)]
    assert list(map(tuple, np.argwhere(ch["can"]))) == [(1, 2)]
    assert list(map(tuple, np.argwhere(ch["agent"]))) == [(1, 1)]
    assert (ch["bin_space"] == 3).all()


def test_egocentric_view_centres_the_robot():
    env = gym.make("mesaworld/Roomba-v0", levels=[Level.from_str(DEPLOY)], view="egocentric")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 9, 9)  # 7 wide level: r = 7 - 3 = 4, side 9
    channels = env.unwrapped.engine.task.obs_channels
    ch = dict(zip(channels, obs))
    assert ch["can"][4, 5] == 1  # the can is just right of the centre
    assert ch["dust"][6, 4] == 1  # floor dust two rows below
    assert ch["obstacle"][3, 4] == 1 and ch["obstacle"][0, 0] == 1  # wall above; off-grid
    obs, *_ = env.step(1)  # move onto the can: it is now under the robot
    assert dict(zip(channels, obs))["can"][4, 4] == 1


@pytest.mark.parametrize("level", [TRAIN_EXAMPLE, DEPLOY_EXAMPLE])
def test_readme_example_levels_are_valid(level):
    env = gym.make("mesaworld/Roomba-v0", levels=[level], render_mode="ansi")
    env.reset(seed=0)
    assert env.render().startswith(level.to_str())


@pytest.mark.parametrize(
    ("row", "cleaned"),
    [
        ("#A*c**#", 1.0),  # a full can early: 3 of the 4 units of bin room, 2 floor units lost
        ("#A**c*#", 2.0),  # the bin has room for 2 of the can's 3 units: 1 floor unit lost
    ],
)
def test_what_a_can_costs_the_floor(row, cleaned):
    level = "#######\n" + row + "\n#######"
    totals, _, _ = play_totals("mesaworld/Roomba-v0", level, "rrrr")
    assert totals["base"] == cleaned  # of 3 floor units: 2 lost, then 1 lost
    assert totals["dust_collected"] == 4.0  # the bin (3 floor units + 1 slack) is full
