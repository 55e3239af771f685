"""The table of instruments: one row per instrument, each row the `Instrument` its file ends in.

    INSTRUMENTS             name -> Instrument (thinking-time, basin, retarget, linear)
    register_instrument     add a row (a new instrument is one file and this one call)
    measure                 run one instrument on a run folder, refusing agents it does not
                            apply to in one line
    summary                 the rows and columns of its table worth printing

Generic code (`mesaworld probe`, the probe experiment e03, the mesa-optimizer demo) iterates
this table and never names an instrument.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.runfolder import AGENT_META, RunFolderError, read_json
from mesaworld.experiments.instruments import basin, linear_probes, retarget, thinking_time
from mesaworld.experiments.instruments.instrument import Instrument, ProbeSettings

INSTRUMENTS: dict[str, Instrument] = {}


def register_instrument(instrument: Instrument) -> Instrument:
    """Add `instrument` to the table (a name already taken by another row is an error)."""
    taken = INSTRUMENTS.get(instrument.name)
    if taken is not None and taken is not instrument:
        raise ValueError(f"instrument {instrument.name!r} is registered already")
    INSTRUMENTS[instrument.name] = instrument
    return instrument


for _module in (thinking_time, basin, retarget, linear_probes):
    register_instrument(_module.INSTRUMENT)


def get_instrument(name: str) -> Instrument:
    if name not in INSTRUMENTS:
        raise ValueError(f"unknown instrument {name!r}; known: {', '.join(INSTRUMENTS)}")
    return INSTRUMENTS[name]


def refusal(name: str, run: str | Path) -> str | None:
    """The one-line reason `name` does not apply to the run's agent, or None."""
    try:
        agent_meta = read_json(Path(run) / AGENT_META)
    except RunFolderError as e:
        return str(e)
    why = get_instrument(name).applies(agent_meta)
    return None if why is None else f"{name}: {why}"


def measure(
    name: str, run: str | Path, settings: ProbeSettings | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Instrument `name` on `run` (and the references where it plays them). An agent it does
    not apply to is a ValueError with the instrument's one-line refusal."""
    instrument = get_instrument(name)
    settings = settings or ProbeSettings()
    if settings.agent and (why := refusal(name, run)):
        raise ValueError(why)
    return instrument.run(Path(run), settings)


def summary(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns of `name`'s table worth printing, rounded."""
    instrument = get_instrument(name)
    out = instrument.rows(table)
    # A column ending in "*" names every column with that prefix (e.g. each objective's norm/).
    cols = [
        c
        for pattern in instrument.columns
        for c in out.columns
        if c == pattern or (pattern.endswith("*") and c.startswith(pattern[:-1]) and ":" not in c)
    ]
    out = out[cols].copy()
    return out.round(3).replace({np.nan: None})
