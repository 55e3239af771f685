"""What an instrument declares: `Instrument` (one row of `instruments.registry`) and the
`ProbeSettings` every instrument is called with.

An instrument file defines its measurement and ends in one `Instrument` value; the command line
(`mesaworld probe <name>`), the probe experiment (e03) and the mesa-optimizer demo iterate the
table and never name an instrument. An instrument says:

    name       the `mesaworld probe` name
    measures   one line: the question it answers
    applies    applies(agent_meta) -> None, or a one-line refusal for agents it cannot measure
               (agent_meta: the run's agent.json)
    run        run(run_folder, settings) -> (table, verdicts): a tidy DataFrame with an "agent"
               column, and a one-line verdict per agent (the run, and the references where the
               instrument plays them too)
    figure     figure(table, path, title) -> the files written (png + pdf)
    headline   headline(one agent's table) -> {name: number (or a word, e.g. a layer's
               name)}: its figures in a table across runs (the probe experiment, e03); None:
               not tabulated there
    columns    the table's columns worth printing ("norm/*": each with that prefix; `rows`:
               which of its rows)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class ProbeSettings:
    """What a caller may choose: evaluation levels (per split), which split, the probe's own
    seed, thinking budgets (for instruments that vary one), whether the run and the two
    references (agents whose goal is known by construction) are measured, whether the controls
    are (a pursuer of each proxy and a random walker: the other goal, and none), and whether
    progress lines are printed."""

    levels: int = 100
    split: str = "deploy"
    seed: int = 0
    budgets: tuple[int, ...] = (1, 2, 4, 10, 20)
    agent: bool = True
    references: bool = True
    controls: bool = False
    progress: bool = False  # a line per measured agent on stderr, with the time left

    def __post_init__(self) -> None:
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 1:
            raise ValueError(f"--levels: must be a positive integer, got {self.levels!r}")
        if self.split not in ("train", "deploy"):
            raise ValueError(f"split must be train or deploy, got {self.split!r}")
        if not self.budgets or min(self.budgets) < 1:
            raise ValueError("budgets: give one or more positive integers")


def applies_to_all(agent_meta: dict) -> str | None:
    return None


@dataclass(frozen=True)
class Instrument:
    """One instrument (module docstring)."""

    name: str
    measures: str
    run: Callable[[Path, ProbeSettings], tuple[pd.DataFrame, dict[str, str]]]
    figure: Callable[[pd.DataFrame, Path, str], list[Path]]
    columns: tuple[str, ...]
    applies: Callable[[dict], str | None] = applies_to_all
    rows: Callable[[pd.DataFrame], pd.DataFrame] = lambda table: table  # the rows worth printing
    headline: Callable[[pd.DataFrame], dict[str, float | str]] | None = None
