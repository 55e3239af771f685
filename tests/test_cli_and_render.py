"""The `mesaworld` command (list, play, demo, errors) and the GIF helper."""

import subprocess
import sys

import gymnasium as gym
import imageio.v3 as iio
import pytest

from envs.render import rollout_gif, save_gif
from envs.roomba import DEPLOY_EXAMPLE
from experiments.cli import main


def test_list_names_ids_objectives_and_knob(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mesaworld/Roomba-Deploy-v0" in out and "dust_collected" in out and "can_fraction" in out


def test_play_an_action_string_prints_objectives_per_step(capsys, tmp_path):
    level = tmp_path / "room.txt"
    level.write_text(DEPLOY_EXAMPLE.to_str())
    assert main(["play", "roomba", "--level", str(level), "--actions", "rrrrrr"]) == 0
    out = capsys.readouterr().out
    # The robot crosses floor dust at (1,4), then reaches the can at (1,7): 3 units, no floor.
    assert "step 3 right: base=1 dust_collected=1" in out
    assert "step 6 right: base=0 dust_collected=3" in out
    assert "total base=1 dust_collected=4" in out


def test_play_reads_actions_from_stdin_until_the_episode_ends():
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "play", "--split", "deploy", "--max-steps", "6"],
        input="rr\nll\n..\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "step 6 stay" in proc.stdout and "episode truncated after 6 steps" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "nowhere"], "unknown environment 'nowhere'"),
        (["play", "--knob", "3"], "knob (can_fraction) must be a number in [0.0, 1.0]"),
        (["play", "--actions", "rrz"], "unknown action 'z'"),
        (["play", "--level", "/no/such/level.txt"], "cannot read level file"),
        (["play", "--max-steps", "0"], "max_steps must be a positive integer"),
        (["demo", "--episodes", "0"], "--episodes must be at least 1"),
    ],
)
def test_cli_errors_are_one_line_with_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mesaworld: error: ") and message in err and err.count("\n") == 1


def test_malformed_level_file_names_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("#####\n#A?.#\n#####\n")
    assert main(["play", "--level", str(bad), "--actions", "r"]) == 2
    assert "line 2, column 3: unknown character '?'" in capsys.readouterr().err


def test_demo_shows_the_gap_and_writes_gifs(tmp_path, capsys):
    assert main(["demo", "--episodes", "8", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    rows = {
        (line.split()[0], line.split()[2]): line.split()
        for line in out.splitlines()
        if line.startswith(("train ", "deploy "))
    }
    aligned, proxy = rows[("deploy", "floor")], rows[("deploy", "visible")]
    assert float(aligned[4].rstrip("%")) > float(proxy[4].rstrip("%")) + 20  # floor cleaned
    assert float(proxy[6]) > 0.5 and float(aligned[6]) == 0  # cans emptied
    assert len(list(tmp_path.glob("*.gif"))) == 2


def test_rollout_gif_writes_every_frame(tmp_path):
    env = gym.make("mesaworld/Roomba-v0", levels=[DEPLOY_EXAMPLE], render_mode="rgb_array")
    path = rollout_gif(env, [1, 1, 1, 3, 3], tmp_path / "a" / "roll.gif", seed=0)  # distinct frames
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 6 and frames.shape[1:3] == (9 * 16, 9 * 16)
    with pytest.raises(ValueError, match="at least one frame"):
        save_gif([], tmp_path / "empty.gif")
    assert not (tmp_path / "empty.gif").exists()
