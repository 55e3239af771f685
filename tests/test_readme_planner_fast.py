"""The README's `roomba-planner-fast` rows (issue 23): the 16-wide planner beside the 32-wide one,
regenerated from the committed 5-seed sweeps by e02, and the two presets' runs differ in the
reward net's width and nothing else."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path

import pytest

from mesaworld.experiments import e02_architectures
from mesaworld.experiments.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "results" / "sweeps"


@pytest.fixture(scope="module")
def printed() -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = e02_architectures.main(
            [str(RUNS / "roomba-planner"), str(RUNS / "roomba-planner-fast")]
        )
    assert rc == 0
    return buf.getvalue()


def test_the_fast_planner_rows_are_in_the_readme_as_printed(printed):
    """The table and its sensitivity as one block each (the 32-wide rows also stand elsewhere in
    the README, so line by line would not check them here)."""
    readme = (ROOT / "README.md").read_text()
    table, sensitivity = printed.split("\n\nlabel sensitivity", 1)
    rows = [line for line in table.splitlines() if "| roomba-planner" in line]
    assert len(rows) == 4  # two presets x two knobs
    assert table.strip() in readme
    assert ("label sensitivity" + sensitivity).strip() in readme


def _cells(printed: str, knob: str) -> dict[str, list[str]]:
    """preset -> the row's cells, for one knob."""
    out = {}
    for line in printed.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and cells[1].startswith("roomba-planner") and cells[2] == knob:
            out[cells[1]] = cells
    return out


def test_the_prose_quotes_the_knob_025_rows(printed):
    rows = _cells(printed, "0.25")
    fast, wide = rows["roomba-planner-fast"], rows["roomba-planner"]

    def mean(cell: str) -> str:
        return cell.split(" [")[0]

    prose = " ".join((ROOT / "README.md").read_text().split())
    said = (
        f"deploy floor {mean(fast[5])}% against {mean(wide[5])}%, cans emptied {mean(fast[6])}% "
        f"against {mean(wide[6])}%, readout ratio {mean(fast[7])} against {mean(wide[7])}"
    )
    assert said in prose, said
    assert fast[8].startswith("goal misgeneralization (dust_collected) 3/5")
    assert "*goal misgeneralization* 3/5" in prose


def test_the_two_presets_differ_in_the_reward_nets_width_only():
    """Same training settings, seeds and evaluation; a field the older 32-wide runs do not record
    (added since) is at its default in the 16-wide runs."""
    defaults = dataclasses.asdict(TrainConfig(task="roomba"))

    def config(folder: str, knob: str, seed: int) -> dict:
        run = RUNS / folder / f"{folder}_knob{knob}_seed{seed}"
        return json.loads((run / "config.json").read_text())

    for knob in ("0", "0.25"):
        for seed in range(5):
            wide = config("roomba-planner", knob, seed)
            narrow = config("roomba-planner-fast", knob, seed)
            assert (wide["eval"], wide["total_steps"]) == (narrow["eval"], narrow["total_steps"])
            w, n = wide["config"], narrow["config"]
            assert n.pop("reward_width") == 16 and w.pop("reward_width", 32) == 32
            assert (w.pop("preset"), n.pop("preset")) == ("roomba-planner", "roomba-planner-fast")
            for key, value in n.items():
                assert value == w.get(key, defaults[key]), key
