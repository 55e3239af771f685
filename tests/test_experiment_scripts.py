"""The numbered experiment scripts (e01-e06) refuse a bad path before any work: exit status 2,
one line "<script>: error: ..." on stderr naming the problem, no traceback, nothing written.
Their work (training, probing, reading runs) is replaced by a stub that fails the test, so a
check that is removed or moved after the work shows up here; nothing is ever trained."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from mesaworld.analysis.runfolder import run_meta, write_config
from mesaworld.experiments import (
    e01_roomba_knob,
    e02_architectures,
    e03_probes,
    e04_suboptimality,
    e05_in_context,
    e06_approximate,
    report,
)

ROOT = Path(__file__).resolve().parent.parent
WORK = {  # what each script does after its checks
    e01_roomba_knob: ("run_sweep", "plot_all"),
    e02_architectures: ("architecture_rows",),
    e03_probes: ("_numbers", "_references"),
    e04_suboptimality: ("run_sweep", "parallel_map"),
    e05_in_context: ("run_sweep",),
    e06_approximate: ("run_sweep", "parallel_map"),
}


def _sweep(root: Path, network: str, seeds: int = 2) -> Path:
    """A folder of finished trained runs of `network`, as far as the scripts' checks read them
    (config.json and the presence of episodes.csv), made without training."""
    for seed in range(seeds):
        run = root / f"roomba-tiny_knob0_seed{seed}"
        run.mkdir(parents=True)
        config = {"network": network, "seed": seed, "total_steps": 1024}
        meta = run_meta(
            kind="ppo", agent=f"ppo-{network}", role="trained", task="roomba", knob=0.0,
            seed=seed, eval_settings={}, config=config, total_steps=1024, preset="roomba-tiny",
        )  # fmt: skip
        write_config(run, meta)
        (run / "episodes.csv").write_text("")
    return root


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """Bad paths of every kind, and an MLP sweep folder to read."""
    (tmp_path / "a_file").write_text("keep me\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    return {
        "file": tmp_path / "a_file",
        "dangling": tmp_path / "dangling",
        "loop": tmp_path / "loop_a",
        "missing": tmp_path / "no_such_folder",
        "folder": tmp_path,
        "mlp": _sweep(tmp_path / "mlp_sweep", "mlp"),
    }


@pytest.fixture
def read_only(tmp_path: Path) -> Path:
    """A folder where no file can be made: chmod 555 for a user; root ignores modes, so for
    root a kernel folder that refuses new files."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    candidates = [folder] if os.geteuid() != 0 else [Path("/sys"), Path("/proc")]
    for place in candidates:
        try:
            fd, tmp = tempfile.mkstemp(dir=place)
        except OSError:
            yield place
            break
        os.close(fd)
        os.unlink(tmp)
    else:
        pytest.skip("no read-only folder on this machine")
    folder.chmod(0o755)


@pytest.fixture
def no_work(monkeypatch):
    """Every script's work, replaced by a stub that fails the test if it is reached."""

    def stub(*args, **kwargs):
        raise AssertionError("the script started working before it checked its arguments")

    for module, names in WORK.items():
        for name in names:
            monkeypatch.setattr(module, name, stub)


def _refused(capsys, module, argv: list[str], *words: str) -> str:
    """Run the script's main in this process; it must refuse in one line naming `words`."""
    script = module.__name__.rsplit(".", 1)[-1]
    status = module.main(argv)
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{script}: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    return err


# --- each case of the issue, and the same class of problem in every script ------------------
@pytest.mark.parametrize(
    "csv, words",
    [
        ("folder", "is a folder, not a file"),
        ("under_a_file", "a_file is a file, not a folder"),
        ("dangling", "dangling is a symlink to"),
        ("loop", "loop_a is a symlink loop"),
    ],
)
def test_e02_refuses_a_csv_it_cannot_write(capsys, no_work, paths, csv, words):
    target = paths["file"] / "t.csv" if csv == "under_a_file" else paths[csv]
    _refused(capsys, e02_architectures, [str(paths["mlp"]), "--csv", str(target)], "--csv", words)
    assert paths["file"].read_text() == "keep me\n"
    assert not (paths["folder"] / "nowhere").exists()  # not made through the dangling link


def test_e02_refuses_a_read_only_csv_location(capsys, no_work, paths, read_only):
    csv = read_only / "table.csv"
    _refused(capsys, e02_architectures, [str(paths["mlp"]), "--csv", str(csv)], "--csv", "write")
    assert not csv.exists()


def test_e02_and_e03_refuse_a_missing_input_folder_before_reading_the_others(
    capsys, no_work, paths
):
    folders = [str(paths["mlp"]), str(paths["missing"])]
    _refused(capsys, e02_architectures, folders, str(paths["missing"]), "does not exist")
    argv = [*folders, "--out", str(paths["folder"] / "o")]
    _refused(capsys, e03_probes, argv, str(paths["missing"]), "does not exist")
    assert not (paths["folder"] / "o").exists()


@pytest.mark.parametrize(
    "module", [e01_roomba_knob, e03_probes, e04_suboptimality, e05_in_context, e06_approximate]
)
@pytest.mark.parametrize(
    "kind, words",
    [
        ("file", ["is a file, not a folder"]),
        ("dangling", ["symlink", "does not exist"]),
        ("loop", ["symlink loop"]),
        ("under_a_file", ["is a file, not a folder", "cannot be made"]),
    ],
)
def test_every_script_refuses_an_out_it_cannot_use(capsys, no_work, paths, module, kind, words):
    out = paths["file"] / "sub" if kind == "under_a_file" else paths[kind]
    argv = ["--out", str(out)] + ([str(paths["mlp"])] if module is e03_probes else [])
    _refused(capsys, module, argv, "--out", *words)
    assert paths["file"].read_text() == "keep me\n"
    assert not (paths["folder"] / "nowhere").exists()


@pytest.mark.parametrize("module", [e01_roomba_knob, e04_suboptimality, e06_approximate])
def test_scripts_refuse_a_read_only_out(capsys, no_work, read_only, module):
    _refused(capsys, module, ["--out", str(read_only / "out")], "--out", "cannot write")


@pytest.mark.parametrize(
    "module, inside, words",
    [
        (e04_suboptimality, "capability_cells.csv/", "is a folder, where a file"),
        (e04_suboptimality, "capability", "is a file, not a folder"),
        (e05_in_context, "curves", "is a file, not a folder"),
        (e05_in_context, "in_context.png/", "is a folder, where a file"),
        (e06_approximate, "approximate_runs.csv/", "is a folder, where a file"),
        (e03_probes, "probe_cells.csv/", "is a folder, where a file"),
    ],
)
def test_scripts_refuse_an_out_whose_outputs_cannot_be_written(
    capsys, no_work, paths, tmp_path, module, inside, words
):
    """A file where the script makes a folder (or the reverse) fails at its first write, after
    the work, unless checked first."""
    out = tmp_path / "out"
    out.mkdir()
    name = inside.rstrip("/")
    (out / name).mkdir() if inside.endswith("/") else (out / name).write_text("x")
    argv = ["--out", str(out)] + ([str(paths["mlp"])] if module is e03_probes else [])
    _refused(capsys, module, argv, name, words)


def test_e06_refuses_reuse_folders_without_planner_runs(capsys, no_work, paths, tmp_path):
    argv = ["--presets", "", "--reuse", str(paths["mlp"]), "--out", str(tmp_path / "o")]
    _refused(capsys, e06_approximate, argv, "--reuse", str(paths["mlp"]), "no finished planner")
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--presets", "", "--reuse", str(empty), "--out", str(tmp_path / "o")]
    _refused(capsys, e06_approximate, argv, "--reuse", "none finished")
    _refused(capsys, e06_approximate, ["--presets", "", "--out", str(tmp_path / "o")], "nothing")
    assert not (tmp_path / "o").exists()


def test_e06_reuses_only_the_trained_planner_runs_of_a_folder(tmp_path):
    mixed = _sweep(tmp_path / "mixed", "planner", seeds=2)
    _sweep(mixed / "mlp", "mlp", seeds=1)
    found = e06_approximate.planner_runs(mixed)
    assert [r.name for r in found] == ["roomba-tiny_knob0_seed0", "roomba-tiny_knob0_seed1"]


# --- whole processes: the reported commands ------------------------------------------------
@pytest.mark.parametrize(
    "script, argv, words",
    [
        ("e02_architectures", ["{mlp}", "--csv", "{folder}"], "is a folder, not a file"),
        ("e06_approximate", ["--presets", "", "--reuse", "{mlp}"], "no finished planner runs"),
    ],
)
def test_the_reported_commands_fail_in_one_line_and_fast(paths, script, argv, words):
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", f"mesaworld.experiments.{script}", *argv],
        capture_output=True, text=True, timeout=30, cwd=paths["folder"],
    )  # fmt: skip
    assert time.perf_counter() - start < 30
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"{script}: error: ") and words in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


# --- the helper directly -------------------------------------------------------------------
def test_checks_accept_usable_paths_and_leave_nothing_behind(paths, tmp_path):
    new = tmp_path / "new" / "deeper"
    assert report.check_out_folder("--out", new, files=["a.csv"], folders=["sub"]) == new
    assert not (tmp_path / "new").exists()  # made by the script when it writes, not by the check
    assert report.check_out_folder("--out", paths["folder"]) == paths["folder"]
    link = tmp_path / "link.csv"
    link.symlink_to(paths["file"])
    assert report.check_out_file("--csv", link) == paths["file"]  # written through the link
    assert report.check_out_file("--csv", tmp_path / "t.csv") == tmp_path / "t.csv"
    assert report.check_in_folders("folder", [paths["mlp"]]) == [paths["mlp"]]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no write-check left


def test_checks_name_the_option_and_the_problem(paths):
    with pytest.raises(report.BadArgument, match="^--csv: .* is not a regular file$"):
        report.check_out_file("--csv", "/dev/null")  # never replaced by a table
    with pytest.raises(report.BadArgument, match="^--csv: folder .*no_such_folder does not"):
        report.check_out_file("--csv", paths["missing"] / "t.csv")
    with pytest.raises(report.BadArgument, match="^folder: .*a_file is a file, not a folder$"):
        report.check_in_folders("folder", [paths["mlp"], paths["file"]])
    with pytest.raises(report.BadArgument, match="passes through a symlink loop"):
        report.check_in_folders("folder", [paths["loop"] / "x"])


def test_fail_reports_one_line_and_status_2(capsys):
    assert report.fail("e09_x", ValueError("first\n  second\n")) == 2
    assert capsys.readouterr().err == "e09_x: error: first; second\n"


def test_finish_writes_the_tables_byte_for_byte_then_the_figure_then_the_text(capsys, tmp_path):
    runs = pd.DataFrame({"run": ["a", "b"], "x": [0.1, 1 / 3]})
    cells = pd.DataFrame({"x": [0.5], "x:lo": [float("nan")], "x:hi": [2.0]})
    order = []
    report.finish(
        tmp_path / "out", {"r.csv": runs, "c.csv": cells}, lambda: order.append("fig"), "| t |"
    )
    assert (tmp_path / "out" / "r.csv").read_text() == runs.to_csv(index=False)
    assert (tmp_path / "out" / "c.csv").read_text() == cells.to_csv(index=False)
    assert order == ["fig"] and capsys.readouterr().out == "| t |\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.csv", "r.csv"]
    assert report.figure_files("approximate") == ["approximate.png", "approximate.pdf"]
