"""Bad input is refused before any work, in one line naming the problem, leaving nothing behind;
malformed run files are named on read. (The inputs an outside fault-injection round found.)"""

import json
import os
import pty
import shutil
import stat
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.trainer import train

PY = [sys.executable, "-m", "mesaworld.experiments.cli.main"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run and the baselines beside it."""
    root = tmp_path_factory.mktemp("root")
    assert main(["baselines", "roomba", "--root", str(root), "--levels", "8"]) == 0
    train(preset("roomba-tiny", eval_levels=8), root / "tiny", quiet=True)
    return root / "tiny"


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mesaworld: error: "), err
    return err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "roomba-tiny", "--eval-seed", "-1"], "--eval-seed: must be a non-negative"),
        (["train", "roomba-tiny", "--seed", "-3"], "--seed: must be a non-negative"),
        (["baselines", "roomba", "--eval-seed", "-1"], "eval_seed: must be an integer >= 0"),
        (
            [
                "train",
                "roomba-tiny",
                "--num-envs",
                "2e6",
                "--num-steps",
                "1",
                "--total-steps",
                "2e6",
            ],
            "GiB",
        ),
        (["train", "roomba-tiny", "--eval-levels", "1e12"], "evaluating 1,000,000,000,000"),
        (["baselines", "roomba", "--levels", "1000000000000"], "needs about"),
        (["train", "roomba-tiny", "--torch-threads", "100000"], "must be at most 64"),
        (["sweep", "roomba-tiny", "--seeds", "100000000"], "100,000,000 runs; at most 10,000"),
    ],
)
def test_bad_values_are_refused_before_any_folder_is_made(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    flag = "--root" if argv[0] == "baselines" else "--out"  # (sweep: --out too)
    assert message in _error(capsys, [*argv, flag, str(out)])
    assert not out.exists()


def test_a_huge_vector_env_is_refused_before_allocating():
    with pytest.raises(ValueError, match="num_envs=100000000 of roomba needs about"):
        gym.make_vec("mesaworld/Roomba-v0", num_envs=10**8, vectorization_mode="vector_entry_point")


def test_eval_of_a_huge_level_set_changes_nothing(run, capsys):
    before = (run / "episodes.csv").read_bytes()
    assert "needs about" in _error(capsys, ["eval", str(run), "--levels", "1000000000000"])
    assert (run / "episodes.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("episodes.csv", "header", "0 train episodes"),
        ("episodes.csv", "a,b\n1,2\n", "missing columns split"),
        ("train_log.csv", "garbage\n\x00\x01\n", "not a training log"),
        ("episodes.csv", None, "cut off"),  # cut off in the middle of a row
        ("episodes.csv", "split=moon", "unknown split value(s) ['moon']"),
    ],
)
def test_malformed_run_files_are_named_by_plot_and_analyze(
    run, tmp_path, capsys, file, content, message
):
    root = tmp_path / "root"
    shutil.copytree(run, root / "tiny")
    path = root / "tiny" / file
    text = path.read_text()
    if content == "header":
        content = text.splitlines()[0] + "\n"
    elif content is None:
        content = text[: len(text) // 2].rsplit(",", 3)[0]
    elif content.startswith("split="):
        content = text.replace("deploy", content.split("=")[1])
    path.write_text(content)
    err = _error(capsys, ["plot", str(root), "--quiet"])
    assert message in err and file in err
    if file == "episodes.csv":
        assert message in _error(capsys, ["analyze", str(root), "--quiet"])


def test_an_invalid_agent_json_and_a_corrupt_train_state_are_named(run, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    meta = json.loads((bad / "agent.json").read_text())
    (bad / "agent.json").write_text(json.dumps(meta | {"hidden": -4}))
    assert "field 'hidden' is missing or invalid (-4)" in _error(capsys, ["eval", str(bad)])
    unfinished = tmp_path / "unfinished"
    train(preset("roomba-tiny", eval_levels=8), unfinished, quiet=True, stop_after=2)
    (unfinished / "train_state.pt").write_bytes(b"\x80\x02garbage")
    args = ["train", "roomba-tiny", "--eval-levels", "8", "--out", str(unfinished), "--resume"]
    err = _error(capsys, args)
    assert "train_state.pt is corrupt" in err and "weights_only" not in err


def test_level_text_problems_name_the_place(tmp_path, capsys):
    with pytest.raises(ValueError, match="line 2, column 3: character 'é' is not printable ASCII"):
        gym.make("mesaworld/Roomba-v0", levels="#####\n#Aé.#\n#####")
    binary = tmp_path / "room.bin"
    binary.write_bytes(b"#####\n#A\xff.#\n#####\n")
    assert f"{binary}: not a text level file" in _error(capsys, ["play", "--level", str(binary)])
    with pytest.raises(ValueError, match="level file name is empty"):
        gym.make("mesaworld/Roomba-v0", levels="")
    bom = tmp_path / "bom.txt"
    bom.write_text("\ufeff#####\n#A*.#\n#####\n", encoding="utf-8")
    assert main(["play", "--level", str(bom), "--actions", "r"]) == 0  # a BOM is not a row


def test_a_device_as_a_level_file_is_refused_not_read_forever(capsys):
    assert "not a regular file" in _error(capsys, ["play", "--level", "/dev/zero"])


def test_help_shows_the_presets_values_wherever_the_preset_stands(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--quiet", "cheese-maze", "--help"])
    # (the preset's 2,000,000 as it trains: whole updates of 256 envs x 32 steps)
    assert f"default {2_000_000 // 8192 * 8192}]" in " ".join(capsys.readouterr().out.split())


def test_knob_where_it_has_no_meaning_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="no meaning with split='deploy'"):
        gym.make("mesaworld/Roomba-Deploy-v0", knob=0.2)
    level = tmp_path / "room.txt"
    level.write_text("#####\n#A*.#\n#####\n")
    err = _error(capsys, ["play", "--level", str(level), "--knob", "0.5"])
    assert "--knob chooses a level distribution; it has no meaning with --level" in err


def test_numpy_scalars_are_accepted_like_python_numbers():
    env = gym.make("mesaworld/Roomba-v0", knob=np.float32(0.5))
    env.reset(seed=0)
    assert env.action_space.contains(np.array(2))
    obs, *_ = env.step(np.array(2))  # Gymnasium's Discrete accepts a 0-d array: so do we
    assert obs.shape == env.observation_space.shape


def test_run_files_are_readable_by_others_under_the_usual_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = train(preset("roomba-tiny", eval_levels=4), tmp_path / "r", quiet=True)
    finally:
        os.umask(old)
    for path in run.iterdir():
        if path.is_file() and path.name != ".lock":
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_a_typo_in_interactive_play_is_reported_and_the_game_goes_on():
    main_fd, sub_fd = pty.openpty()
    proc = subprocess.Popen([*PY, "play", "--max-steps", "3"], stdin=sub_fd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    os.write(main_fd, b"rx\nrrr\n")
    out, err = proc.communicate(timeout=60)
    os.close(main_fd)
    os.close(sub_fd)
    assert proc.returncode == 0, err
    assert "unknown action 'x'" in out and "type it again" in out
    assert "episode truncated after 3 steps" in out
