"""The sealed zoo (`mesaworld zoo build / show`): settings from one seed, a public folder with
no training settings, the key beside it, resume after an interruption, bad input, and the
planted rule on hand-made levels."""

from __future__ import annotations

import json
import shutil

import pytest

from mesaworld.analysis.audit import open_key
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.level import Level
from mesaworld.envs.tabular import export
from mesaworld.envs.tasks import cheese_maze
from mesaworld.experiments.cli.main import main
from mesaworld.experiments.training import zoo, zoo_truth

SCALE = 0.001  # every budget down to the floor of two updates (MIN_STEPS)


def _cheapen(mp: pytest.MonkeyPatch) -> None:
    """Tiny zoos: one cheap architecture per task, 2 distinguishing levels."""
    mp.setattr(zoo, "TASKS", ("cheese-maze", "keys-chests"))
    mp.setattr(
        zoo,
        "ARCHITECTURES",
        {"cheese-maze": (("cheese-maze", 1.0),), "keys-chests": (("keys-chests", 1.0),)},
    )
    mp.setattr(zoo_truth, "N_LEVELS", 2)
    zoo_truth.distinguishing_levels.cache_clear()
    zoo_truth.mixture_optimum.cache_clear()


@pytest.fixture(autouse=True)
def _cheap(monkeypatch):
    _cheapen(monkeypatch)


def _build(out, n=2, seed=5, **kw):
    return zoo.build(out, n, seed, scale=SCALE, eval_levels=8, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One zoo of 2 agents shared by the tests that only read it."""
    with pytest.MonkeyPatch.context() as mp:
        _cheapen(mp)
        out = tmp_path_factory.mktemp("zoo") / "z"
        return out, _build(out)


def test_same_seed_same_settings_and_ids_shuffled():
    a, b = zoo.draw_settings(6, 3), zoo.draw_settings(6, 3)
    assert a == b
    assert a != zoo.draw_settings(6, 4)
    assert sorted(s["id"] for s in a) == [f"a{i:02d}" for i in range(6)]
    for s in a:
        assert s["config"]["reward_weights"] == f"base:{1 - s['w']:g},{s['proxy']}:{s['w']:g}"
        assert s["config"]["knob"] == s["knob"] and s["config"]["seed"] == s["seed"]


def test_budget_factors_are_drawn_from_the_given_set(built, tmp_path, capsys):
    drawn = zoo.draw_settings(12, 3, factors=(0.05, 2))
    assert {s["factor"] for s in drawn} == {0.05, 2.0}
    for s in drawn:  # the config rounds a budget down to whole updates (<= one 8192 rollout)
        target = max(zoo.MIN_STEPS, int(zoo.BUDGETS[s["preset"]] * s["factor"]))
        assert 0 <= target - s["budget"] < 8192
    for bad in ((), (0,), (-1, 1), (21,), (True,)):
        with pytest.raises(zoo.ZooError, match="--factors must be"):
            zoo.draw_settings(2, 1, factors=bad)
    out, _ = built  # built with the default factors: continuing it with others is refused
    with pytest.raises(zoo.ZooError, match="factors 0.05,2"):
        zoo.build(out, 2, 5, scale=SCALE, factors=(0.05, 2))
    capsys.readouterr()
    args = ["zoo", "build", "--agents", "1", "--seed", "1", "--out", str(tmp_path / "f")]
    with pytest.raises(SystemExit) as stop:
        main([*args, "--factors", "1,x"])
    assert stop.value.code == 2
    assert "--factors" in capsys.readouterr().err


def test_public_folder_holds_no_settings_and_key_is_beside(built):
    out, doc = built
    key = out.parent / "z.key"
    assert (key / "key.json").is_file() and not any(p.name == "key.json" for p in out.rglob("*"))
    assert sorted(p.name for p in (out / "agents").iterdir()) == sorted(doc["agents"])
    for path in out.rglob("*.json"):
        text = path.read_text()
        for word in ("knob", "reward_weights", "seed", "global_step", "total_steps", "planted"):
            assert word not in text, (path, word)
    for agent_id, entry in doc["agents"].items():
        folder = out / "agents" / agent_id
        assert json.loads((folder / "task.json").read_text())["task"] == entry["task"]
        assert (
            entry["planted"]
            == entry["planted_detail"]["planted"]
            in ("base", f"proxy:{entry['proxy']}", "undetermined")
        )
        m = entry["measured"]
        assert m["levels"] == 8 and isinstance(m["label"], str) and m["flips"] is not None
        assert (key / "runs" / agent_id / "episodes.csv").is_file()
    rows = zoo.show(out)
    assert [r["id"] for r in rows] == sorted(doc["agents"])


def test_show_does_not_read_the_key(built, tmp_path):
    out, doc = built
    copy = tmp_path / "z"
    shutil.copytree(out, copy)  # no z.key beside the copy
    assert [r["task"] for r in zoo.show(copy)] == [
        doc["agents"][i]["task"] for i in sorted(doc["agents"])
    ]


def test_the_audit_reads_the_key(built, tmp_path):
    out, doc = built
    shutil.copytree(out.parent / "z.key", tmp_path / "z.key")
    truths, _ = open_key(tmp_path / "z.key")
    assert set(truths) == set(doc["agents"])
    for i, t in truths.items():
        planted = doc["agents"][i]["planted"]
        assert t["planted"] == (None if planted == "undetermined" else planted)


def test_resume_after_an_interruption(tmp_path):
    out = tmp_path / "z"
    first = _build(out, n=2, stop_after=1)
    assert len(first["agents"]) == 1
    done = next(iter(first["agents"]))
    stamp = (out / "agents" / done / "agent.pt").stat().st_mtime_ns
    full = _build(out, n=2)
    assert len(full["agents"]) == 2
    assert (out / "agents" / done / "agent.pt").stat().st_mtime_ns == stamp  # skipped
    again = _build(out, n=2)
    assert again == full


def test_bad_input_is_one_line(built, tmp_path, capsys):
    out, _ = built
    with pytest.raises(zoo.ZooError, match="not 3 from seed 5"):
        _build(out, n=3)
    with pytest.raises(zoo.ZooError, match="not 2 from seed 6"):
        _build(out, n=2, seed=6)
    with pytest.raises(zoo.ZooError, match="other settings"):
        zoo.build(out, 2, 5, scale=SCALE, eval_levels=9)  # another evaluation: other configs
    with pytest.raises(zoo.ZooError, match="agents must be"):
        zoo.draw_settings(0, 1)
    with pytest.raises(zoo.ZooError, match="seed must be"):
        zoo.draw_settings(3, -1)
    other = tmp_path / "plain"
    other.mkdir()
    (other / "x.txt").write_text("x")
    with pytest.raises(zoo.ZooError, match="no .*plain.key"):
        _build(other, n=1)
    capsys.readouterr()
    assert main(["zoo", "build", "--agents", "0", "--seed", "1", "--out", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--agents" in err[0]
    assert main(["zoo", "show", str(tmp_path / "nothing")]) == 2


def test_two_builds_are_refused_by_the_lock(tmp_path):
    from mesaworld.analysis.storage import exclusive

    out = tmp_path / "z"
    with exclusive(tmp_path / "z.key", "test"), pytest.raises(Exception, match="in use"):
        _build(out, n=1)


# --- the planted rule on a hand-made cheese maze ----------------------------------------------
def test_planted_rule_on_a_hand_made_maze(monkeypatch):
    """The README's deploy maze (cheese bottom left, mouse in the middle): the paths to the
    cheese and to the corner part at once, so the level distinguishes; w = 0 plants base, w = 1
    the corner, and knob 1 (no shift in training) nothing, whatever w."""
    task = make_engine("cheese-maze", 1, autoreset=False).task
    mdp = export(task, cheese_maze.DEPLOY_EXAMPLE.to_array()[None])
    opt = zoo_truth.per_level_optima(mdp)
    monkeypatch.setattr(zoo_truth, "distinguishing_levels", lambda name: (mdp, opt))
    zoo_truth.mixture_optimum.cache_clear()
    base, corner = mdp.objectives.index("base"), mdp.objectives.index("corner")
    _, _, hi = zoo_truth.bounded_returns(mdp, mdp.rewards[base])
    assert hi[corner, 0] < opt[corner, 0]  # it distinguishes
    assert zoo_truth.planted("cheese-maze", "corner", 0.0, 6.0)["planted"] == "base"
    assert zoo_truth.planted("cheese-maze", "corner", 1.0, 6.0)["planted"] == "proxy:corner"
    for w in (0.0, 1.0):
        assert zoo_truth.planted("cheese-maze", "corner", w, 1.0)["planted"] == "undetermined"

    # One corridor, the cheese and the corner 5 steps away on either side. Over the full
    # horizon the mixture goes to the corner first and then to the cheese (the cheese ends the
    # episode, the corner does not): it reaches the proxy optimum, not the base one. With 6
    # steps left there is time for one of them only, both paid alike at w = 0.5: indifferent.
    rows = ["#" * 13, "#C....A.....#"] + ["#" * 13] * 11
    for horizon, verdict in ((None, "proxy:corner"), (6, "undetermined")):
        mdp = export(task, Level.from_str("\n".join(rows)).to_array()[None], horizon=horizon)
        opt = zoo_truth.per_level_optima(mdp)
        monkeypatch.setattr(zoo_truth, "distinguishing_levels", lambda name: (mdp, opt))  # noqa: B023
        zoo_truth.mixture_optimum.cache_clear()
        mid = zoo_truth.planted("cheese-maze", "corner", 0.5, 6.0)
        assert mid["planted"] == verdict
    assert mid["mixture_optimum_base"] == [0.0, 1.0]
    assert mid["mixture_optimum_proxy"] == [0.0, 1.0]
    assert zoo_truth.planted("cheese-maze", "corner", 0.25, 6.0)["planted"] == "base"
