"""Levels as ASCII data, and bad input: one clear error each, naming the problem."""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesaworld.envs import Fixed, Level, LevelError, Mixture, parse_actions
from mesaworld.envs.tasks.roomba import LEGEND, SHIFT, Roomba, RoombaLevels


@st.composite
def roomba_levels(draw):
    h, w = draw(st.integers(3, 10)), draw(st.integers(3, 10))
    inner = [[draw(st.sampled_from(".*cuF")) for _ in range(w - 2)] for _ in range(h - 2)]
    r, c = draw(st.integers(0, h - 3)), draw(st.integers(0, w - 3))
    inner[r][c] = "A"
    rows = ["#" * w] + ["#" + "".join(row) + "#" for row in inner] + ["#" * w]
    return Level(tuple(rows))


@settings(max_examples=80, deadline=None)
@given(level=roomba_levels())
def test_ascii_and_array_round_trips(level):
    assert Level.from_str(level.to_str()) == level
    assert Level.from_array(level.to_array()) == level
    Roomba(level.shape).check(level)


def test_from_str_strips_indentation_and_blank_lines_and_reads_files(tmp_path):
    text = "\n\n    #####\n    #A*.#\n    #####   \n\n"
    level = Level.from_str(text)
    assert level.rows == ("#####", "#A*.#", "#####")
    path = tmp_path / "room.txt"
    path.write_text(level.to_str())
    assert Level.from_file(path) == level


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#####\n#A*.#\n####", r"line 3: row has 4 characters, expected 5"),
        ("#####\n#A?.#\n#####", r"line 2, column 3: unknown character '\?'"),
        ("#####\n#.*.#\n#####", r"no agent 'A'"),
        ("#####\n#A*A#\n#####", r"line 2, column 4: second agent"),
        ("#####\n.A*.#\n#####", r"line 2, column 1: '\.' on the border"),
        ("", r"level is empty"),
    ],
)
def test_malformed_levels_name_line_and_column(text, message):
    with pytest.raises(LevelError, match=message):
        Roomba((3, 5)).check(Level.from_str(text))


def test_missing_level_file(tmp_path):
    with pytest.raises(LevelError, match="cannot read level file"):
        Level.from_file(tmp_path / "nope.txt")


def test_bad_level_through_gym_make_is_rejected_before_play():
    with pytest.raises(LevelError, match="unknown character"):
        gym.make("mesaworld/Roomba-v0", levels=["#####\n#A%.#\n#####"])


def test_unknown_env_id():
    with pytest.raises(gym.error.Error, match="Roomba-v9|doesn't exist|not found"):
        gym.make("mesaworld/Roomba-v9")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"knob": 1.5}, r"knob \(can_fraction\) must be a number in \[0.0, 1.0\], got 1.5"),
        ({"knob": -0.1}, r"knob \(can_fraction\)"),
        ({"knob": "half"}, r"knob \(can_fraction\)"),
        ({"split": "test"}, r"split must be one of \('train', 'deploy'\)"),
        ({"max_steps": 0}, r"max_steps must be a positive integer"),
        ({"view": "topdown"}, r"view must be one of"),
        ({"bin_slack": -1}, r"bin_slack must be an integer in \[0, 100\]"),
        ({"can_dust": 0}, r"can_dust must be at least 1"),
        ({"render_mode": "video"}, r"render_mode must be one of"),
        ({"levels": [], "knob": 0.5}, r"knob= sets the train distribution"),
        ({"generator": RoombaLevels(), "knob": 0.5}, r"either generator= or levels=/knob="),
    ],
)
@pytest.mark.filterwarnings("ignore:.*render_mode='video'")  # Gymnasium warns before we raise
def test_bad_kwargs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("mesaworld/Roomba-v0", **kwargs)


def test_unknown_kwarg_is_named():
    with pytest.raises(TypeError, match="colour"):
        gym.make("mesaworld/Roomba-v0", colour="red")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": -1}, r"size must be an integer in \[5, 64\], got -1"),
        ({"size": 4}, r"size must be an integer"),
        ({"dust": (5, 2)}, r"dust must be a range"),
        ({"cans": (-1, 2)}, r"cans must be a range"),
        ({"dust": (0, 3)}, r"at least 1 dust"),
        ({"furniture": (0, 10)}, r"exceeds 9 furniture spots"),
        ({"size": 5, "dust": (5, 8), "furniture": (0, 1)}, r"need 9 cells, only 8 are free"),
    ],
)
def test_bad_generator_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RoombaLevels(**kwargs)


def test_bad_mixture_and_fixed():
    with pytest.raises(ValueError, match=r"Mixture.p must be in \[0, 1\]"):
        Mixture(RoombaLevels(), RoombaLevels(), p=2.0)
    with pytest.raises(ValueError, match="shape"):
        Mixture(RoombaLevels(size=7), RoombaLevels(), p=0.5)
    with pytest.raises(ValueError, match="share one shape"):
        Fixed((Level.from_str("###\n#A#\n###"), Level.from_str("####\n#A.#\n####")))
    with pytest.raises(ValueError, match="at least one level"):
        Fixed(())


def test_bad_action_string_and_action():
    with pytest.raises(ValueError, match="position 3: unknown action 'x'"):
        parse_actions("rrx")
    env = gym.make("mesaworld/Roomba-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 4\]"):
        env.unwrapped.step(5)


def test_shift_is_printable_data():
    text = repr(SHIFT)
    assert (
        "RoombaLevels(size=9, dust=(4, 8), cans=(2, 4)" in text
        and "knob_name='can_fraction'" in text
    )
    assert set(LEGEND) == set("#.AF*cu")
    assert SHIFT.generator("train", knob=0.25).p == 0.25
    assert np.isclose(SHIFT.knob_default, 0.0)
