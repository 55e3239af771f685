"""The README's e07 tables (level samplers over alpha on the Roomba) regenerate from the
committed runs in docs/results/sweeps/e07: the alpha table and the "No Regrets" table, as
`python -m mesaworld.experiments.e07_alpha --report-only` prints them."""

from __future__ import annotations

from pathlib import Path

from mesaworld.experiments.e02_architectures import markdown
from mesaworld.experiments.e07_alpha import no_regrets, tables

ROOT = Path(__file__).resolve().parents[1]
E07 = ROOT / "docs" / "results" / "sweeps" / "e07"


def readme_lines() -> list[str]:
    table, corr = tables(E07)
    table = table.sort_values(["preset", "sampler", "alpha"], kind="stable")
    shown = table[[c for c in table.columns if not c.startswith("_")]]
    return markdown(shown).splitlines() + markdown(no_regrets(corr)).splitlines()


def test_the_e07_tables_are_in_the_readme_as_computed():
    readme = (ROOT / "README.md").read_text()
    lines = readme_lines()
    assert len(lines) > 10
    for line in lines:
        assert line in readme, line


if __name__ == "__main__":
    print("\n".join(readme_lines()))
