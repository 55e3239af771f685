"""The README's e07 section (level samplers over alpha) regenerates from committed runs:

- docs/results/sweeps/e07: the grid (Roomba MLP, every sampler, 5 alphas; cheese-maze planner
  with coordinates, DR and PLR by exact regret): the alpha table, the label-sensitivity table
  and the "No Regrets" table, as `python -m mesaworld.experiments.e07_alpha --report-only`
  prints them, and every number the prose cites from them;
- docs/results/sweeps/e07_budget/b2e6, b3e6: the budget pilot (DR at alpha 0.1, 3 seeds);
- docs/results/sweeps/e07_pool1000: the earlier grid (pool 1000, 2M steps) the prose compares.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from mesaworld.experiments.e02_architectures import markdown
from mesaworld.experiments.e07_alpha import no_regrets, sensitivity, tables
from mesaworld.experiments.e07_figure import pivot, share_pivot

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "docs" / "results" / "sweeps"
E07 = SWEEPS / "e07"


def _shown(table):
    table = table.sort_values(["preset", "sampler", "alpha"], kind="stable")
    return table[[c for c in table.columns if not c.startswith("_")]]


@functools.cache  # three tests read them: computed once per session
def readme_lines() -> tuple[str, ...]:
    table, corr = tables(E07)
    lines = markdown(_shown(table)).splitlines() + markdown(no_regrets(corr)).splitlines()
    for name in dict.fromkeys(table["preset"]):
        lines += markdown(pivot(table, name)).splitlines()
        lines += markdown(share_pivot(corr, name)).splitlines()
    return tuple(lines + [line for line in sensitivity(E07).splitlines() if line.startswith("|")])


@functools.cache
def budget_lines() -> tuple[str, ...]:
    rows = []
    for name in ("b2e6", "b3e6"):
        table, _ = tables(SWEEPS / "e07_budget" / name)
        rows += [f"| {r['_budget']} | {r['seeds']} | {r['deploy base (%)']} | {r['label (runs)']} |"
                 for r in table.to_dict("records")]  # fmt: skip
    return tuple(rows)


@pytest.fixture(scope="module")
def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_the_e07_tables_are_in_the_readme_as_computed(readme):
    lines = readme_lines()
    assert len(lines) > 30
    for line in lines:
        assert line in readme, line


def test_the_budget_pilot_is_in_the_readme_as_computed(readme):
    lines = budget_lines()
    assert len(lines) == 2
    for line in lines:
        assert line in readme, line


# Numbers in the prose that are not read from a table: the design (pool, budgets, seeds, alphas
# as written in commands), and wall times measured from the grid's own log (not data).
# Run counts of the grid (150 Roomba runs, 20 cheese runs, the last 50 timed) are design too.
DESIGN = {"1", "2", "3", "4", "5", "6", "10", "100", "1000", "10000", "10,000", "0.3M", "2M", "3M"}
DESIGN |= {"20", "40", "50", "60", "150", "2025"}  # and the paper's year


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w.])-?\d(?:[\d,]*\d)?(?:\.\d+)?M?(?![\w])", text))


def test_every_number_in_the_prose_is_in_a_regenerated_table_or_named(readme):
    start = readme.index("## Which training prevents the wrong goal?")
    section = readme[start : readme.index("\n## ", start + 10)]
    prose = "\n".join(
        line
        for line in re.sub(r"```.*?```|`[^`]*`", "", section, flags=re.S).splitlines()
        if not line.startswith("|") and not line.startswith("![")
    )
    known = set()
    for line in readme_lines() + budget_lines() + pool1000_lines():
        known |= _numbers(line)
    unknown = _numbers(prose) - known - DESIGN - _timings(prose)
    assert not unknown, sorted(unknown)


def _timings(prose: str) -> set[str]:
    """Numbers that are wall times: each written as '<n> min' or '<n> s' or '<n> h'."""
    return set(re.findall(r"(\d[\d.,]*)\s+(?:min|s|h)\b", prose))


@functools.cache
def pool1000_lines() -> tuple[str, ...]:
    table, corr = tables(SWEEPS / "e07_pool1000")
    lines = []
    for name in dict.fromkeys(table["preset"]):
        lines += markdown(pivot(table, name)).splitlines()
        lines += markdown(share_pivot(corr, name)).splitlines()
    return tuple(lines)


def test_the_earlier_grid_the_prose_compares_is_in_the_readme(readme):
    for line in pool1000_lines():
        assert line in readme, line


if __name__ == "__main__":
    print("\n".join(readme_lines() + budget_lines() + pool1000_lines()))
