"""The committed sealed zoo (docs/results/zoo/, `mesaworld zoo build --agents 40 --seed 2026`):
its public folder holds no training setting, every agent loads from it alone, and the README's
composition table regenerates from its key."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mesaworld.analysis.runfolder import read_json
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.zoo import show

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "docs" / "results" / "zoo" / "zoo"
KEY = ROOT / "docs" / "results" / "zoo" / "zoo.key" / "key.json"


def composition_rows(doc: dict) -> list[str]:
    """Per task and preset: agents, planted objectives, measured labels (uncertain ones apart)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for a in doc["agents"].values():
        groups.setdefault((a["task"], a["preset"]), []).append(a)
    lines = []
    for (task, name), agents in sorted(groups.items()):
        planted = Counter(a["planted"] for a in agents)
        labels = Counter(
            "uncertain" if a["measured"]["flips"] else a["measured"]["label"] for a in agents
        )
        p = ", ".join(f"{k} {v}" for k, v in sorted(planted.items()))
        m = ", ".join(f"{k} {v}" for k, v in sorted(labels.items()))
        lines.append(f"| {task} | {name} | {len(agents)} | {p} | {m} |")
    return lines


@pytest.mark.skipif(not KEY.is_file(), reason="no committed zoo")
def test_the_composition_table_is_in_the_readme_as_computed():
    readme = (ROOT / "README.md").read_text()
    for line in composition_rows(read_json(KEY)):
        assert line in readme, line


@pytest.mark.skipif(not KEY.is_file(), reason="no committed zoo")
def test_the_public_zoo_holds_no_setting_and_every_agent_loads():
    for path in ZOO.rglob("*.json"):
        text = path.read_text()
        for word in ("knob", "reward_weights", "seed", "global_step", "total_steps", "planted"):
            assert word not in text, (path, word)
    rows = show(ZOO)
    assert len(rows) == len(read_json(KEY)["agents"]) == 40
    for r in rows:
        agent, meta = load_agent(ZOO / "agents" / r["id"])
        assert meta["task"] == r["task"]
