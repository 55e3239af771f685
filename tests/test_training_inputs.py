"""Training inputs the command line must say or refuse in one line (issues from a fault-injection
round): a --total-steps that is not whole updates (rounded down, said on stderr, recorded as it
ran), an absurd one, a folder argument that is a file or a broken link, and an existing run
folder in each of its states (the suggestion made is what --resume or eval then does)."""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mesaworld.analysis.runfolder import LOCK, check_same_config
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training.config import ConfigError, TrainConfig, preset
from mesaworld.experiments.training.trainer import train

PY = [sys.executable, "-m", "mesaworld.experiments.cli.main"]
TINY = ["--num-envs", "16", "--num-steps", "16", "--eval-levels", "8", "--quiet"]  # 256 per update
VOLATILE = ("created", "versions", "git_commit")


def _cli(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *argv], capture_output=True, text=True, timeout=timeout)


def _one_line(err: str, *needles: str) -> str:
    """stderr is one error line holding every needle (and no traceback)."""
    assert err.count("\n") == 1 and err.startswith("mesaworld: error: "), err
    assert "Traceback" not in err and all(n in err for n in needles), err
    return err


def _refused(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    return _one_line(capsys.readouterr().err, *needles)


def _snapshot(root: Path) -> dict:
    """Every entry under root: a file's bytes, a link's target, or a folder."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            else:
                out[rel] = ("dir",) if path.is_dir() else ("file", path.read_bytes())
    return out


def _meta(run: Path) -> dict:
    meta = json.loads((run / "config.json").read_text())
    return {k: v for k, v in meta.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run of exactly 2 updates (512 steps), made by the command."""
    run = tmp_path_factory.mktemp("runs") / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["train", "roomba-tiny", "--total-steps", "512", *TINY, "--out", str(run)]) == 0
    assert err.getvalue() == ""  # whole updates: nothing to say
    assert _meta(run)["total_steps"] == _meta(run)["config"]["total_steps"] == 512
    return run


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


# --- total_steps -------------------------------------------------------------------------------
def test_a_budget_of_partial_updates_trains_whole_ones_says_so_and_records_what_ran(
    finished, tmp_path, capsys
):
    run = tmp_path / "run"
    assert main(["train", "roomba-tiny", "--total-steps", "700", *TINY, "--out", str(run)]) == 0
    assert capsys.readouterr().err == (
        "mesaworld: training 512 steps: 2 updates of 256; "
        "--total-steps 700 is not a whole number of updates\n"
    )
    # The record is the run that trained: the same as asking for 512, file for file.
    assert _meta(run) == _meta(finished)
    assert _meta(run)["total_steps"] == _meta(run)["config"]["total_steps"] == 512
    for name in ("episodes.csv", "agent.pt", "eval_deploy.npz"):
        assert (run / name).read_bytes() == (finished / name).read_bytes(), name


def test_a_preset_budget_reaches_as_far_as_it_did_under_any_rollout_size():
    assert preset("roomba").num_updates == 1_000_000 // 8192  # results of presets unchanged
    assert preset("roomba").total_steps == 1_000_000 // 8192 * 8192
    # Rounded once, for the final rollout size (not the preset's rounding rounded again).
    assert preset("roomba", num_envs=16, num_steps=16).num_updates == 1_000_000 // 256
    assert preset("roomba-tiny", total_steps=10**10).total_steps == 10**10  # the largest


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (10**99, "must be at most 1e10, got 1e+99"),
        (2 * 10**10, "must be at most 1e10, got 20,000,000,000"),
        (10**400, "must be at most 1e10, got a number of 401 digits"),  # (a config.json's)
    ],
    ids=["1e99", "2e10", "1e400"],
)
def test_an_absurd_budget_is_one_line_naming_the_field(value, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({**preset("roomba-tiny").to_dict(), "total_steps": value})
    assert str(e.value) == f"total_steps: {message}"


@contextlib.contextmanager
def _time_limit(seconds: int):
    """TimeoutError in this (main) thread after `seconds`: the in-process `timeout=`."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_the_command_refuses_1e99_steps_before_any_folder_is_made(tmp_path, capsys):
    argv = ["train", "roomba-tiny", "--total-steps", "1e99", "--out", str(tmp_path / "r")]
    with _time_limit(60):  # (were it accepted, it would train "forever")
        _refused(capsys, argv, "--total-steps: must be at most 1e10, got 1e+99")
    assert _snapshot(tmp_path) == {}


# --- folder arguments that are not folders --------------------------------------------------
COMMANDS = {  # command -> (argv with the folder, how the line names it, the folder's noun)
    "train": (["train", "roomba-tiny", "--total-steps", "512", *TINY, "--out"], "--out ", "run"),
    "sweep": (
        ["sweep", "roomba-tiny", "--seeds", "1", "--workers", "1", "--quiet", "--out"],
        "--out ",
        "sweep",
    ),
    "eval": (["eval", "--quiet"], "", "run"),  # (a positional argument: named as it is)
    "baselines": (["baselines", "roomba", "--levels", "8", "--root"], "--root ", None),
}
KINDS = {  # what the path is -> the end of the line
    "file": " is a file, not a {noun}",
    "broken link": " is a broken symbolic link (to missing, which does not exist), not a {noun}",
    "link loop": " is a symbolic link loop, not a {noun}",
    "below a file": ": {file} is a file, not a folder",
}


def _bad_folder(tmp_path: Path, kind: str) -> Path:
    """A path of the kind, beside a file that must survive."""
    (tmp_path / "file").write_bytes(b"keep me\n")
    link = tmp_path / "link"
    if kind == "broken link":
        link.symlink_to("missing")
    elif kind == "link loop":
        link.symlink_to("link")
    else:
        return tmp_path / "file" / "run" if kind == "below a file" else tmp_path / "file"
    return link


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_argument_that_is_not_a_folder_is_one_line_and_changes_nothing(
    tmp_path, capsys, command, kind
):
    path = _bad_folder(tmp_path, kind)
    argv, name, noun = COMMANDS[command]
    noun = "folder" if noun is None else f"{noun} folder"
    before = _snapshot(tmp_path)
    what = KINDS[kind].format(noun=noun, file=tmp_path / "file")
    _refused(capsys, [*argv, str(path)], f"mesaworld: error: {name}{path}{what}\n")
    assert _snapshot(tmp_path) == before  # nothing made, nothing lost


def test_the_command_itself_says_it_in_one_line(tmp_path):
    path = _bad_folder(tmp_path, "broken link")
    before = _snapshot(tmp_path)
    proc = _cli(["sweep", "roomba-tiny", "--out", str(path)])
    assert proc.returncode == 2 and proc.stdout == ""
    _one_line(proc.stderr, f"--out {path} is a broken symbolic link (to missing, which does not")
    assert _snapshot(tmp_path) == before


# --- an existing run folder, in each state ----------------------------------------------------
TRAIN = ["train", "roomba-tiny", "--total-steps", "512", *TINY, "--out"]


def test_a_finished_run_says_so_and_suggests_eval_which_works(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path / "run")
    before = _snapshot(run)
    err = _refused(capsys, [*TRAIN, str(run)], "holds a finished run;")
    assert f"re-evaluate it with `mesaworld eval {run}`, or choose another --out" in err
    assert "--resume" not in err  # a finished run is not continued
    # --resume with another config is refused in the same words (naming the difference) ...
    err = _refused(capsys, [*TRAIN, str(run), "--seed", "1", "--resume"], "finished run (it")
    assert "made with seed=0, this config has seed=1" in err and "--resume" not in err
    assert main([*TRAIN, str(run), "--resume"]) == 0  # ... with its own: nothing to do
    assert _snapshot(run) == before
    assert main(["eval", str(run), "--quiet"]) == 0  # the suggestion works
    assert (run / "episodes.csv").read_bytes() == (finished / "episodes.csv").read_bytes()


def test_an_interrupted_run_suggests_resume_which_continues_it(tmp_path, capsys):
    run = tmp_path / "run"
    cfg = preset("roomba-tiny", total_steps=768, num_envs=16, num_steps=16, eval_levels=8)
    train(cfg, run, quiet=True, stop_after=1)  # a checkpoint after update 1 of 3
    argv = ["train", "roomba-tiny", "--total-steps", "768", *TINY, "--out", str(run)]
    before = _snapshot(run)
    err = _refused(capsys, argv, "holds an interrupted run (update 1 of 3)")
    assert "pass --resume to continue it, or choose another --out" in err
    # Other settings: the line says --resume continues it only with its own, and so it does.
    err = _refused(capsys, [*argv, "--seed", "1"], "interrupted run made with other settings")
    assert "seed=0, this config has seed=1" in err and "its own settings and --resume" in err
    _refused(capsys, [*argv, "--seed", "1", "--resume"], "cannot resume", "seed=0")
    assert _snapshot(run) == before
    assert main([*argv, "--resume"]) == 0  # the suggestion works
    assert (run / "episodes.csv").is_file() and not (run / "train_state.pt").exists()
    assert (run / "train_log.csv").read_text().count("\n") == 1 + 3  # header + 3 updates


def test_a_trained_run_whose_evaluation_was_cut_short_suggests_resume(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path / "run")
    (run / "episodes.csv").unlink()  # what a kill during the evaluation leaves
    before = _snapshot(run)
    err = _refused(capsys, [*TRAIN, str(run)], "holds a trained run whose evaluation was")
    assert "pass --resume to evaluate it" in err
    assert _snapshot(run) == before
    assert main([*TRAIN, str(run), "--resume"]) == 0
    assert (run / "episodes.csv").read_bytes() == (finished / "episodes.csv").read_bytes()


def test_a_folder_that_is_not_a_run_is_not_offered_to_resume(tmp_path, capsys):
    run = tmp_path / "notes"
    run.mkdir()
    (run / "notes.txt").write_text("mine\n")
    before = _snapshot(tmp_path)
    for extra in ([], ["--resume"]):
        err = _refused(capsys, [*TRAIN, str(run), *extra], "is not a run (no config.json)")
        assert "--resume" not in err
    before[f"notes/{LOCK}"] = ("file", b"")  # the lock file (empty) is all that is added
    assert _snapshot(tmp_path) == before


def test_a_run_recorded_before_whole_updates_still_resumes(finished, tmp_path, capsys):
    """config.json of an older mesaworld records the budget asked for (700), not the 512 steps
    its 2 updates trained; the same command line with --resume still continues it."""
    run = _copy(finished, tmp_path / "run")
    meta = json.loads((run / "config.json").read_text())
    meta["total_steps"] = meta["config"]["total_steps"] = 700
    (run / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    cfg = preset("roomba-tiny", total_steps=700, num_envs=16, num_steps=16, eval_levels=8)
    check_same_config(run, cfg.to_dict(), TrainConfig.defaults())  # (what a sweep checks)
    argv = ["train", "roomba-tiny", "--total-steps", "700", *TINY, "--out", str(run), "--resume"]
    before = _snapshot(run)
    _refused(capsys, argv[:-1], "holds a finished run;")  # (one line: no note on a refusal)
    assert main(argv) == 0  # finished: nothing to do
    assert _snapshot(run) == before
    note = "mesaworld: training 512 steps: 2 updates of 256; --total-steps 700 is not a whole"
    assert capsys.readouterr().err.startswith(note)
    (run / "episodes.csv").unlink()
    assert main(argv) == 0  # evaluated again, not refused
    assert (run / "episodes.csv").read_bytes() == (finished / "episodes.csv").read_bytes()
