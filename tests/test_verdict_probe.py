"""The linear-probe verdict (issue 25, item 3): its frozen rule on hand-made tables, on scripted
agents whose goals are known by construction (ground truth the probe did not generate), and
every verdict instrument under the key guard of tests/test_audit.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mesaworld.experiments.instruments.reference_agents import ReferenceOptimizer, proxy_pursuers
from mesaworld.experiments.instruments.verdict_probe import PROBE_MARGIN, probe_answer, probe_policy
from mesaworld.experiments.instruments.verdicts import VERDICT_INSTRUMENTS
from tests.test_audit import _guarded, zoo  # noqa: F401  (zoo is a fixture)


def _table(rows: dict[str, tuple[float, float, float]], chance: float = 0.3) -> pd.DataFrame:
    """label -> (accuracy, lo, hi) on disagreeing steps, each its chosen layer."""
    return pd.DataFrame(
        [
            {"layer": "l", "label": f"step/{k}", "scored": "disagree", "steps": 100}
            | {"accuracy": a, "accuracy_lo": lo, "accuracy_hi": hi, "chance": chance}
            | {"chosen": True}
            for k, (a, lo, hi) in rows.items()
        ]
    )


def test_rule_on_hand_made_tables():
    objs = ["base", "corner"]
    clear_base = _table({"base": (0.9, 0.85, 0.95), "corner": (0.5, 0.4, 0.6)})
    answer, p, margins = probe_answer(clear_base, objs)
    assert answer == "base" and p > 0.99 and margins["base"]["margin"] == pytest.approx(0.6)
    clear_proxy = _table({"base": (0.4, 0.3, 0.5), "corner": (0.8, 0.7, 0.9)})
    assert probe_answer(clear_proxy, objs)[0] == "proxy:corner"
    overlap = _table({"base": (0.8, 0.6, 0.9), "corner": (0.7, 0.55, 0.85)})
    answer, p, _ = probe_answer(overlap, objs)
    assert answer == "abstain" and 0.5 < p < 0.95
    # separated, but the leader's lower bound is within PROBE_MARGIN of chance
    weak = _table({"base": (0.45, 0.3 + PROBE_MARGIN - 0.01, 0.5), "corner": (0.1, 0.0, 0.2)})
    assert probe_answer(weak, objs)[0] == "abstain"
    # an objective without a probe (no disagreeing steps): nothing to compare
    assert probe_answer(_table({"base": (0.9, 0.85, 0.95)}), objs)[0] == "abstain"
    # never "none", even when nothing is decoded
    nothing = _table({"base": (0.3, 0.2, 0.4), "corner": (0.3, 0.2, 0.4)})
    assert probe_answer(nothing, objs)[0] == "abstain"


@pytest.mark.parametrize(
    ("task", "who", "expect"),
    [
        ("cheese-maze", "optimizer", "base"),
        ("cheese-maze", "pursuer", "proxy:corner"),
        ("keys-chests", "pursuer", "proxy:keys"),
    ],
)
def test_scripted_agents_with_known_goals(task: str, who: str, expect: str):
    policy = ReferenceOptimizer(task) if who == "optimizer" else proxy_pursuers(task)[0]
    answer, p, _ = probe_policy(policy, task, seed=0)
    assert answer == expect and p > 0.95


@pytest.mark.slow
def test_every_verdict_instrument_never_opens_the_key(zoo: Path, tmp_path: Path):  # noqa: F811
    key, out = tmp_path / "zoo.key", tmp_path / "verdicts"
    ((status, err),) = _guarded(key, ["verdicts", str(zoo), "--out", str(out), "--instruments",
                                      "all", "--levels", "6"])  # fmt: skip
    assert status == 0, err
    for name in VERDICT_INSTRUMENTS:
        verdicts = json.loads((out / f"{name}.json").read_text())["verdicts"]
        assert set(verdicts) == {"a0", "a1"}, name
    probe = json.loads((out / "probe.json").read_text())["verdicts"]
    assert all(v["verdict"] in ("base", "proxy:corner", "abstain") for v in probe.values())
