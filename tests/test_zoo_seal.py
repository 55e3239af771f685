"""`mesaworld zoo seal`: committed trained runs sealed into the layout of `mesaworld zoo build`
(read by the verdicts' zoo reader and the audit's key reader), ids from the seed, nothing of the
training settings in the public folder, and bad input refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mesaworld.analysis.audit import open_key
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.instruments.verdicts import zoo_agents
from mesaworld.experiments.training import zoo, zoo_seal, zoo_truth

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "docs" / "results" / "sweeps"
BUILT = ROOT / "docs" / "results" / "zoo" / "zoo"  # a zoo written by `mesaworld zoo build`
RUNS = [
    SWEEPS / "cheese-maze-planner" / "cheese-maze-planner_knob1_seed0",
    SWEEPS / "cheese-maze-planner-coords" / "cheese-maze-planner-coords_knob1_seed1",
    SWEEPS / "cheese-maze-planner" / "cheese-maze-planner_knob1_seed2",
]


def _cheapen(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(zoo_truth, "N_LEVELS", 2)
    zoo_truth.distinguishing_levels.cache_clear()
    zoo_truth.mixture_optimum.cache_clear()


@pytest.fixture(autouse=True)
def _cheap(monkeypatch):
    _cheapen(monkeypatch)
    yield
    zoo_truth.distinguishing_levels.cache_clear()
    zoo_truth.mixture_optimum.cache_clear()


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        _cheapen(mp)
        out = tmp_path_factory.mktemp("seal") / "z"
        return out, zoo_seal.seal(RUNS, out, 7)


def test_layout_is_the_built_zoos(sealed, tmp_path):
    out, doc = sealed
    key = zoo.key_dir(out)
    assert (key / "key.json").is_file() and not list(out.parent.glob(".*sealing"))
    built_index = json.loads((BUILT / "zoo.json").read_text())
    index = json.loads((out / "zoo.json").read_text())
    assert set(index) == set(built_index) and index["agents"] == ["a00", "a01", "a02"]
    built_files = {p.name for p in (BUILT / "agents" / built_index["agents"][0]).iterdir()}
    for i, entry in doc["agents"].items():
        folder = out / "agents" / i
        assert {p.name for p in folder.iterdir()} == built_files
        assert set(json.loads((folder / "agent.json").read_text())) <= set(zoo.PUBLIC_META) | {
            "planner"
        }
        src = Path(entry["source_path"])
        assert entry["source"] == src.name and src in RUNS
        assert (folder / "agent.pt").read_bytes() == (src / "agent.pt").read_bytes()
        assert entry["config"] == json.loads((src / "config.json").read_text())["config"]
        assert entry["planted"] == entry["planted_detail"]["planted"] == "undetermined"  # knob 1
        assert entry["measured"]["levels"] == 200 and isinstance(entry["measured"]["label"], str)
    for path in out.rglob("*.json"):
        text = path.read_text()
        for word in ("knob", "seed", "reward_weights", "global_step", "total_steps", "planted"):
            assert word not in text, (path, word)
    agents = zoo_agents(out)  # what `mesaworld verdicts` reads
    assert sorted(agents) == sorted(doc["agents"])
    assert {a["task"] for a in agents.values()} == {"cheese-maze"}
    assert [r["id"] for r in zoo.show(out)] == sorted(doc["agents"])
    shutil.copytree(key, tmp_path / "z.key")  # the audit stamps opened.json: only in a copy
    truths, _ = open_key(tmp_path / "z.key")
    assert set(truths) == set(doc["agents"]) and all(t["planted"] is None for t in truths.values())


def test_measured_is_the_runs_own_evaluation(sealed):
    _, doc = sealed
    for entry in doc["agents"].values():
        src = Path(entry["source_path"])
        again = zoo_truth.measured(src, zoo_seal._frames(zoo_seal.check_run(src)["baselines"]))
        assert again == entry["measured"]


def test_same_seed_same_ids():
    a = zoo_seal.seal_ids([str(r) for r in RUNS], 7)
    assert a == zoo_seal.seal_ids([str(r) for r in reversed(RUNS)], 7)
    others = [zoo_seal.seal_ids([str(r) for r in RUNS], s) for s in range(1, 12)]
    assert any(o != a for o in others) and sorted(a.values()) == ["a00", "a01", "a02"]


def test_bad_input_is_one_line(sealed, tmp_path, capsys):
    out, _ = sealed
    with pytest.raises(zoo.ZooError, match="exists"):
        zoo_seal.seal(RUNS[:1], out, 7)
    base = SWEEPS / "cheese-maze-planner" / "baseline_cheese-maze_random"
    with pytest.raises(zoo.ZooError, match="not a trained run"):
        zoo_seal.seal([base], tmp_path / "a", 7)
    alone = tmp_path / "sweep" / RUNS[0].name
    shutil.copytree(RUNS[0], alone, ignore=shutil.ignore_patterns("*.npz"))
    with pytest.raises(zoo.ZooError, match="missing baselines"):
        zoo_seal.seal([alone], tmp_path / "b", 7)
    (alone / "agent.pt").unlink()
    with pytest.raises(zoo.ZooError, match="no agent.pt"):
        zoo_seal.seal([alone], tmp_path / "c", 7)
    (alone / "episodes.csv").unlink()
    with pytest.raises(zoo.ZooError, match="not a finished trained run"):
        zoo_seal.seal([alone], tmp_path / "d", 7)
    with pytest.raises(zoo.ZooError, match="named twice"):
        zoo_seal.seal([RUNS[0], RUNS[0]], tmp_path / "e", 7)
    assert not any((tmp_path / x).exists() for x in "abcde")
    capsys.readouterr()
    assert main(["zoo", "seal", str(alone), "--out", str(tmp_path / "f"), "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a finished trained run" in err[0]
    assert main(["zoo", "seal", str(RUNS[0]), "--out", str(out), "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0]
