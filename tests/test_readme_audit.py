"""The README's blind-audit leaderboards regenerate from committed data: the committed verdicts
scored against the committed keys give the committed tables and the README's rows, and every
committed verdict file was written before its key was first opened."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from mesaworld.analysis.audit import leaderboard_markdown
from mesaworld.experiments.cli.audit_cmd import audit_tables

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "docs" / "results"
ZOOS = [p.parent for p in sorted(RESULTS.glob("zoo*/verdicts/audit/leaderboard.csv"))]


def test_there_is_a_committed_audit():
    assert ZOOS, "no committed audit under docs/results/zoo*/verdicts/audit"


@pytest.mark.parametrize("audit", ZOOS, ids=lambda p: p.parts[-3])
def test_the_leaderboard_regenerates_and_is_in_the_readme(audit: Path):
    zoo_dir = audit.parents[1]
    key = zoo_dir / "zoo.key"
    opened = datetime.fromisoformat(json.loads((key / "opened.json").read_text())["opened"])
    for f in (audit.parent).glob("*.json"):
        created = datetime.fromisoformat(json.loads(f.read_text())["created"])
        assert created <= opened, f"{f} was written after the key was opened"
    frame, board, _ = audit_tables(zoo_dir / "zoo", audit.parent, key)
    committed = pd.read_csv(audit / "leaderboard.csv")
    pd.testing.assert_frame_equal(board.reset_index(drop=True), committed, check_dtype=False)
    readme = (ROOT / "README.md").read_text()
    for row in leaderboard_markdown(board).splitlines()[2:]:
        assert row in readme, f"README lacks the leaderboard row {row}"


POOLED = sorted(RESULTS.glob("zoo*/verdicts/audit/leaderboard_pooled.csv"))


@pytest.mark.parametrize("pooled", POOLED, ids=lambda p: p.parts[-4])
def test_the_pooled_leaderboard_regenerates_and_is_in_the_readme(pooled: Path):
    from mesaworld.experiments.cli.audit_cmd import pooled_board

    audit = pooled.parent
    zoo_dir = audit.parents[1]
    others = json.loads((audit / "pooled_with.json").read_text())
    frame, _, _ = audit_tables(zoo_dir / "zoo", audit.parent, zoo_dir / "zoo.key")
    board = pooled_board(frame, [(ROOT / o["zoo"], ROOT / o["verdicts"]) for o in others])
    pd.testing.assert_frame_equal(board, pd.read_csv(pooled), check_dtype=False)
    readme = (ROOT / "README.md").read_text()
    for row in leaderboard_markdown(board).splitlines()[2:]:
        assert row in readme, f"README lacks the pooled leaderboard row {row}"
