"""The `mesaworld` command (list, play, demo, errors) and the GIF helper."""

import dataclasses
import io

import gymnasium as gym
import imageio.v3 as iio
import pytest

from mesaworld.envs.render import rollout_gif, save_gif
from mesaworld.envs.tasks.roomba import DEPLOY_EXAMPLE
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training.config import TrainConfig


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


def test_play_reads_actions_from_stdin_until_the_episode_ends(monkeypatch, capsys):
    """Actions piped in (not a terminal); a typed session on a real terminal, in a whole
    process, is test_bad_input.py's test_a_typo_in_interactive_play_is_reported_..."""
    monkeypatch.setattr("sys.stdin", io.StringIO("rr\nll\n..\n"))
    assert main(["play", "--split", "deploy", "--max-steps", "6"]) == 0
    out = capsys.readouterr().out
    assert "step 6 stay" in out and "episode truncated after 6 steps" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "nowhere"], "unknown environment 'nowhere'"),
        (["play", "--knob", "3"], "knob (can_fraction) must be a number in [0.0, 1.0]"),
        (["play", "--actions", "rrz"], "unknown action 'z'"),
        (["play", "--level", "/no/such/level.txt"], "cannot read level file"),
        (["play", "--max-steps", "0"], "max_steps must be a positive integer"),
        (["demo", "--total-steps", "-5"], "total_steps: must be at least 1"),
        (["train", "nonexistent"], "unknown preset 'nonexistent'"),
        (
            ["train", "roomba-tiny", "--total-steps", "abc"],
            "--total-steps: expected an int, got 'abc'",
        ),
        (["train", "roomba-tiny", "--knob", "2"], "--knob: must be in [0, 1], got 2.0"),
        (["train", "roomba-tiny", "--network", "rnn"], "--network: must be one of mlp, cnn"),
        (["train", "roomba-tiny", "--num-minibatches", "7"], "--num-minibatches: must divide"),
        (["train", "roomba-tiny", "--anneal-lr", "maybe"], "--anneal-lr: expected true or false"),
        (["eval", "/no/such/run"], "no such run folder: /no/such/run"),
        (["sweep", "nope"], "unknown preset 'nope'"),
        (["sweep", "roomba-tiny", "--knob", "0,x"], "--knob: expected a float, got 'x'"),
        (["sweep", "roomba-tiny", "--seeds", "0"], "seeds: must be at least 1"),
        (["sweep", "roomba-tiny", "--knob", "0,2"], "knob: must be in [0, 1], got 2.0"),
        (["plot", "/no/such/root"], "no such folder: /no/such/root"),
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


def test_argparse_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "roomba-tiny", "--no-such-flag", "1"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--no-such-flag" in err


def test_train_help_shows_every_field_docstring(capsys):
    from mesaworld.experiments.training.config import field_docs

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    # argparse wraps to the terminal's width, also after a hyphen ("mesa-" / "optimizer").
    out = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    docs = field_docs()
    assert len(docs) == len(dataclasses.fields(TrainConfig))  # every field is documented
    for name, doc in docs.items():
        if name != "preset":
            flat = " ".join(doc.split()).replace("- ", "-")
            assert "--" + name.replace("_", "-") in out and flat in out


def test_train_cli_refuses_an_existing_run_folder_and_eval_a_corrupt_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "roomba-tiny", "--out", str(run), "--quiet"]
    assert main(args) == 0
    before = (run / "episodes.csv").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds a finished run; re-evaluate it with `mesaworld eval" in err
    assert "--resume" not in err and err.count("\n") == 1
    assert main([*args, "--resume"]) == 0  # finished: nothing to do
    assert (run / "episodes.csv").read_bytes() == before
    assert main(["eval", str(run), "--quiet"]) == 0
    assert (run / "episodes.csv").read_bytes() == before  # re-evaluation reproduces the file
    (run / "agent.pt").write_bytes(b"not a checkpoint")
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert "corrupt checkpoint" in err and err.count("\n") == 1
    assert (run / "episodes.csv").read_bytes() == before  # nothing lost


def test_demo_trains_evaluates_and_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--total-steps", "8192", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    rows = [
        line.split()
        for line in text.splitlines()
        if line.startswith("nearest") and " deploy " in line
    ]
    base = {" ".join(r[:3]): float(r[7].rstrip("%")) for r in rows}
    assert base["nearest floor dust"] > base["nearest visible dust"] + 20  # the gap, anchored
    assert (out / "figures" / "reward_result_gap.png").is_file()
    assert (out / "roomba-demo_knob0_seed0" / "figures" / "deploy_episode.gif").is_file()


def test_rollout_gif_writes_every_frame(tmp_path):
    env = gym.make("mesaworld/Roomba-v0", levels=[DEPLOY_EXAMPLE], render_mode="rgb_array")
    path = rollout_gif(env, [1, 1, 1, 3, 3], tmp_path / "a" / "roll.gif", seed=0)  # distinct frames
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 6 and frames.shape[1:3] == (9 * 16, 9 * 16)
    with pytest.raises(ValueError, match="at least one frame"):
        save_gif([], tmp_path / "empty.gif")
    assert not (tmp_path / "empty.gif").exists()
