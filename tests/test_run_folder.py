"""The run folder has one owner (`mesaworld.analysis.runfolder`): one config.json shape for every kind
of run, folders of the first schema still load, copies of a run count once, and the command
line names one task one way."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mesaworld.analysis.metrics import format_table, gap_table, run_summary
from mesaworld.analysis.runfolder import SCHEMA, RunFolderError, read_config
from mesaworld.analysis.runs import load_runs
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training.baselines import write_baselines
from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.evaluate import EvalSettings
from mesaworld.experiments.training.trainer import train

LEGACY = Path(__file__).parent / "data" / "behavior" / "cheese_maze"
SHAPE = {"schema", "kind", "agent", "role", "task", "knob", "seed", "total_steps", "preset"}
SHAPE |= {"eval", "config", "objectives", "reward", "measures", "created", "versions"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    write_baselines("roomba", root, EvalSettings(eval_seed=5, levels=8))
    train(preset("roomba-tiny", eval_levels=8, eval_seed=5), root / "ppo", quiet=True)
    return root


def test_every_kind_of_run_writes_one_config_shape(root):
    metas = [json.loads(p.read_text()) for p in sorted(root.glob("*/config.json"))]
    assert {m["kind"] for m in metas} == {"ppo", "scripted", "random"}
    for meta in metas:
        assert set(meta) >= SHAPE and meta["schema"] == SCHEMA
    ppo = read_config(root / "ppo")
    assert ppo["agent"] == "ppo-mlp" and ppo["role"] == "trained" and ppo["config"]["seed"] == 0


def test_folders_of_the_first_schema_load_in_the_current_shape(tmp_path):
    old = json.loads((LEGACY / "cheese-maze_knob1_seed0" / "config.json").read_text())
    assert "schema" not in old and old["task"] == "cheese_maze"  # written by mesaworld 0.1
    meta = read_config(LEGACY / "cheese-maze_knob1_seed0")
    assert meta["task"] == "cheese-maze" and meta["config"]["task"] == "cheese-maze"
    assert meta["role"] == "trained" and meta["seed"] == 0 and meta["eval"]["levels"] == 200
    baseline = tmp_path / "b"
    baseline.mkdir()
    legacy_baseline = {"kind": "baseline", "agent": "random", "role": "random", "task": "coin"}
    legacy_baseline |= {"knob": float("nan"), "eval": {"eval_seed": 1, "levels": 4}}
    (baseline / "config.json").write_text(json.dumps(legacy_baseline))
    meta = read_config(baseline)
    assert meta["kind"] == "random" and meta["config"] == {} and meta["total_steps"] == 0


def test_a_folder_written_with_the_old_kind_planner_reads_as_scripted(root, tmp_path):
    # Scripted baselines were kind "planner" (also the name of a network) before the rename.
    configs = sorted(root.glob("*/config.json"))
    new = next(p.parent for p in configs if json.loads(p.read_text())["kind"] == "scripted")
    old = tmp_path / "old" / new.name
    shutil.copytree(new, old)
    (old / "config.json").write_text(
        json.dumps(json.loads((old / "config.json").read_text()) | {"kind": "planner"})
    )
    assert read_config(old)["kind"] == "scripted"
    shutil.copytree(new, tmp_path / "new" / new.name)
    df = load_runs(tmp_path)  # the old folder and its new copy are one run, of kind scripted
    assert len(df.attrs["duplicates"]) == 1 and set(df["kind"]) == {"scripted"}
    first = tmp_path / "schema1"  # and a scripted baseline of the first schema (kind "baseline")
    first.mkdir()
    legacy = {"kind": "baseline", "agent": "to the goal", "role": "aligned", "task": "coin"}
    (first / "config.json").write_text(json.dumps(legacy | {"eval": {"levels": 4}}))
    assert read_config(first)["kind"] == "scripted"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"schema": 99, "kind": "ppo"}, "schema 99 is not one this mesaworld reads"),
        ({"kind": "mystery"}, "not a mesaworld run folder config"),
        ("[1, 2]", "does not hold a JSON object"),
        ("{", "is not valid JSON"),
    ],
)
def test_a_config_that_cannot_be_read_is_one_line_naming_the_file(tmp_path, content, message):
    text = content if isinstance(content, str) else json.dumps(content)
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(RunFolderError) as exc:
        read_config(tmp_path)
    assert message in str(exc.value) and "config.json" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_copies_of_a_run_are_counted_once(root, tmp_path):
    # The README's order: the demo writes baselines under runs/demo, `mesaworld baselines`
    # writes the same ones under runs/: plotting runs/ must not pool them twice.
    shutil.copytree(root, tmp_path / "demo")
    shutil.copytree(root, tmp_path / "again")
    df = load_runs(tmp_path)
    assert len(df.attrs["duplicates"]) == len(list(root.glob("*/config.json")))
    table = gap_table(run_summary(df))
    assert (table["seeds"] == 1).all()
    assert (df.groupby(["agent", "split"]).size() == 8).all()  # 8 levels, not 16
    assert "ppo-mlp" in format_table(table)


def test_scores_use_only_baselines_evaluated_on_the_same_levels(root, tmp_path):
    # The baselines in `root` played 8 levels of eval seed 5; this run plays 8 of seed 6.
    shutil.copytree(root, tmp_path / "r")
    train(preset("roomba-tiny", eval_levels=8, eval_seed=6), tmp_path / "r" / "other", quiet=True)
    table = gap_table(run_summary(load_runs(tmp_path / "r")))
    other = table[(table["agent"] == "ppo-mlp") & (table["split"] == "deploy")]
    assert len(other) == 2  # the two evaluations are two cells, never pooled
    mine = other[other["eval_seed"] == 6].iloc[0]
    assert np.isnan(mine["score/base"]) and np.isnan(mine["pai"])
    assert mine["label"].startswith("unknown: no random baseline of roomba on these levels")
    same = other[other["eval_seed"] == 5].iloc[0]
    assert np.isfinite(same["score/base"]) and np.isfinite(same["pai"])


def test_a_run_with_the_default_knob_spelled_out_is_a_copy(root, tmp_path):
    # `train` records knob None (the task's default), `demo` and `sweep` record 0.0.
    shutil.copytree(root / "ppo", tmp_path / "a")
    train(preset("roomba-tiny", eval_levels=8, eval_seed=5, knob=0.0), tmp_path / "b", quiet=True)
    df = load_runs(tmp_path)
    assert len(df.attrs["duplicates"]) == 1 and df["run"].nunique() == 1


def test_one_name_per_task_on_the_command_line(tmp_path, capsys):
    for spelling in ("cheese-maze", "cheese_maze", "CheeseMaze"):
        assert main(["play", spelling, "--actions", "r"]) == 0
    capsys.readouterr()
    assert main(["baselines", "cheese_maze", "--root", str(tmp_path), "--levels", "2"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        "baseline_cheese-maze_go_to_cheese",
        "baseline_cheese-maze_go_to_corner",
        "baseline_cheese-maze_random",
    }
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cheese-maze: mesaworld/CheeseMaze-v0" in out and "cheese_maze" not in out


def test_help_after_a_preset_shows_that_presets_values(capsys):
    with pytest.raises(SystemExit):
        main(["train", "cheese-maze", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    trains = 2_000_000 // 8192 * 8192  # the preset's budget in whole updates (256 envs x 32)
    assert "[str; default 'cheese-maze']" in text and f"[int; default {trains}]" in text


def test_a_missing_baseline_is_named_in_the_table(tmp_path):
    train(preset("roomba-tiny", eval_levels=4), tmp_path / "alone", quiet=True)
    text = format_table(gap_table(run_summary(load_runs(tmp_path)), root=str(tmp_path)))
    assert "unknown: no random baseline of roomba" in text
    assert f"mesaworld baselines roomba --root {tmp_path}" in text
    assert "unknown []" not in text


def test_the_demo_runs_any_registered_task(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "lava", "--total-steps", "8192", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "lava" in text and "around the lava" in text
    assert (out / "figures" / "reward_result_gap.png").is_file()
