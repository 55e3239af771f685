"""Adaptive identification of trained agent folders (issue 25, item 2): the engine episode
replays on the table, the pool keeps the evaluation set out, edits pass the level check,
a train-only pool returns the indistinguishable set, bad folders are one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mesaworld.experiments.cli.main import main
from mesaworld.experiments.instruments import identify_pool
from mesaworld.experiments.instruments.identify_pool import (
    eval_overlap,
    eval_sets,
    level_pool,
    passes_check,
)
from mesaworld.experiments.instruments.identify_trained import (
    THRESHOLD,
    IdentifyError,
    TrainedAgent,
    objective_of,
    pool_for,
    verdict,
)

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "docs/results/sweeps/cheese-maze-planner/cheese-maze-planner_knob1_seed0"
HELD_OUT = (20261123, 200)


def test_trained_episode_replays_on_the_table():
    agent = TrainedAgent(RUN)
    pool, _ = pool_for(agent.task, "full", 1, 0, agent.info["held_out"])
    rng = np.random.default_rng(0)
    for lv in pool[:3]:
        steps = agent.episode(lv, rng)
        t, s, a = (np.array(x) for x in zip(*steps, strict=True))
        assert np.array_equal(t, np.arange(len(steps)))
        assert np.array_equal(a, agent.last_actions)
        states, taken = lv.mdp.replay(0, agent.last_actions)
        assert np.array_equal(states, s) and np.array_equal(taken, a)
        assert s[0] == lv.mdp.start[0]


def test_verdict_end_to_end_is_deterministic():
    a = verdict(RUN, seed=3, levels=1, budget=4)
    b = verdict(RUN, seed=3, levels=1, budget=4)
    assert a["instrument"] == "identify" and a["agent"] == RUN.name
    assert 1 <= a["episodes"] <= 4 and a["seconds"] > 0
    assert a["verdict"] == (a["verdict"] if a["probability"] >= THRESHOLD else "abstain")
    assert abs(sum(a["posterior"].values()) - 1) < 1e-9
    assert {k: v for k, v in a.items() if k != "seconds"} == {
        k: v for k, v in b.items() if k != "seconds"
    }


@pytest.mark.parametrize("task", ["cheese-maze", "keys-chests", "roomba"])
def test_pool_excludes_eval_levels_and_edits_pass_the_check(task):
    codes, names = level_pool(task, 5, 1, "full", HELD_OUT)
    assert eval_overlap(names, codes, eval_sets(task, *HELD_OUT)) == []
    edited = [i for i, nm in enumerate(names) if " move " in nm or " add " in nm]
    assert len(edited) >= 5
    by_name = dict(zip(names, codes, strict=True))
    for i in edited:
        assert passes_check(task, codes[i])
        source = by_name.get(names[i].split(" ")[0])
        if source is not None:
            assert (source != codes[i]).sum() in (1, 2)
    assert len({c.tobytes() for c in codes}) == len(codes)


def test_pool_asserts_when_an_eval_level_slips_in(monkeypatch):
    codes, _ = level_pool("cheese-maze", 2, 0, "train", HELD_OUT)
    monkeypatch.setattr(identify_pool, "eval_sets", lambda *a: codes[:1])
    with pytest.raises(AssertionError, match="evaluation levels"):
        level_pool("cheese-maze", 2, 0, "train", HELD_OUT)


def test_edit_check_rejects_a_second_cheese():
    codes, _ = level_pool("cheese-maze", 1, 0, "train", HELD_OUT)
    bad = codes[0].copy()
    bad[np.argwhere(bad == ord("."))[0][0], np.argwhere(bad == ord("."))[0][1]] = ord("C")
    assert passes_check("cheese-maze", codes[0]) and not passes_check("cheese-maze", bad)


def test_train_pool_returns_the_indistinguishable_set(tmp_path, capsys):
    out = tmp_path / "v.json"
    rc = main(
        ["identify", str(RUN), "--pool", "train", "--levels", "2", "--budget", "2"]
        + ["--verdict-out", str(out)]
    )
    assert rc == 0
    doc = json.loads(out.read_text())
    groups = doc["indistinguishable"]
    assert any({"base", "corner"} <= set(g) for g in groups)
    assert doc["identifiable"] is False and doc["verdict"] == "abstain"
    assert "not identifiable within this pool" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["missing", "no_weights", "no_task", "bad_task"])
def test_bad_folder_is_one_line(tmp_path, capsys, damage):
    folder = tmp_path / "agent"
    if damage != "missing":
        shutil.copytree(RUN, folder, ignore=shutil.ignore_patterns("*.npz", "*.csv"))
    if damage == "no_weights":
        (folder / "agent.pt").unlink()
    if damage == "no_task":
        (folder / "config.json").unlink()
    if damage == "bad_task":
        (folder / "task.json").write_text(json.dumps({"task": "no-such-task"}))
    assert main(["identify", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mesaworld: error:") and "\n" not in err
    with pytest.raises(IdentifyError):
        TrainedAgent(folder)


def test_mixture_mapping():
    assert objective_of("mix(base,corner,w=0.25)") == "base"
    assert objective_of("mix(base,corner,w=0.75)") == "corner"
    assert objective_of("mix(base,corner,w=0.5)") == "abstain"
    assert objective_of("corner") == "corner" and objective_of("abstain") == "abstain"


def test_zoo_folder_with_task_json(tmp_path):
    folder = tmp_path / "a07"
    folder.mkdir()
    for f in ("agent.pt", "agent.json"):
        shutil.copy(RUN / f, folder / f)
    (folder / "task.json").write_text(
        json.dumps({"task": "cheese-maze", "objectives": ["base", "corner"]})
    )
    agent = TrainedAgent(folder)
    assert agent.task == "cheese-maze" and agent.info["name"] == "a07"
    assert agent.info["held_out"] == HELD_OUT
    (folder / "task.json").write_text(json.dumps({"task": "cheese-maze", "objectives": ["base"]}))
    with pytest.raises(IdentifyError, match="objectives"):
        TrainedAgent(folder)


def test_levels_over_the_state_cap_are_refused_in_one_line(monkeypatch, capsys):
    from mesaworld.experiments.instruments import identify_trained

    monkeypatch.setattr(identify_trained, "MAX_STATES", 5)
    with pytest.raises(IdentifyError, match="more than 5 reachable states"):
        identify_trained.pool_for("cheese-maze", "train", 1, 0, HELD_OUT)
