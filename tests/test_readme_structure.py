"""The README holds each section once: a scripted edit that replaced a span whose end came
before its start once duplicated ~700 lines, and every row-checking test still passed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_every_heading_appears_once():
    headings = [line for line in README.read_text().splitlines() if line.startswith("## ")]
    repeated = [h for h, n in Counter(headings).items() if n > 1]
    assert not repeated, f"README repeats sections: {repeated}"
