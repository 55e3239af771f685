"""Read run folders into tidy DataFrames: the only way analysis sees experiments.

load_runs(root)        one row per evaluation episode of every finished run under `root`,
                       with the run's columns (run, kind, agent, role, task, knob, seed,
                       total_steps, preset) beside the episode's (split, level, length,
                       return/<objective>, measure/<m>, count/<thing>, optimal/<objective>).
                       Copies of one run (the same config and evaluation in two folders, e.g.
                       baselines written by the demo and again by `mesaworld baselines`) count
                       once; `df.attrs["duplicates"]` lists the folders left out.
load_train_logs(root)  one row per PPO update of every run that has a train_log.csv

File names, the config schema and the reader of config.json are `mesaworld.analysis.runfolder`'s (a
module without training code).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mesaworld.analysis.rewards import training_reward
from mesaworld.analysis.runfolder import (
    EPISODES,
    RUN_COLUMNS,
    TRAIN_LOG,
    RunFolderError,
    find_runs,
    identity,
    read_config,
    read_episodes,
    read_train_log,
)

RunsError = RunFolderError  # the error analysis raises for a bad root or run folder


def run_info(run: Path, root: Path) -> dict:
    """The run-level columns, from config.json."""
    meta = read_config(run)
    try:
        rel = run.relative_to(root).as_posix()
    except ValueError:
        rel = run.as_posix()
    info = {"run": rel if rel != "." else run.name}
    info.update({k: meta[k] for k in RUN_COLUMNS if k not in ("run", "reward")})
    info["reward"] = training_reward(meta)
    return info


def _with_run_columns(df: pd.DataFrame, run: Path, root: Path) -> pd.DataFrame:
    for key, value in reversed(run_info(run, root).items()):
        df.insert(0, key, value)
    return df


def finished_runs(root: str | Path) -> tuple[list[Path], list[Path]]:
    """(finished run folders under `root`, one per distinct run; folders left out as copies)."""
    keep, copies, seen = [], [], set()
    for run in find_runs(root):
        if not (run / EPISODES).is_file():
            continue
        key = identity(read_config(run))
        if key in seen:
            copies.append(run)
            continue
        seen.add(key)
        keep.append(run)
    return keep, copies


def load_runs(root: str | Path) -> pd.DataFrame:
    """All evaluation episodes of all finished runs under `root` (unfinished runs are left out;
    `unfinished_runs(root)` lists them; copies of one run count once)."""
    root = Path(root)
    runs, copies = finished_runs(root)
    frames = []
    for run in runs:
        frames.append(_with_run_columns(read_episodes(run), run, root))
    if not frames:
        raise RunsError(f"no finished run folders (with {EPISODES}) under {root}")
    out = pd.concat(frames, ignore_index=True)
    out.attrs["duplicates"] = [str(c) for c in copies]
    return out


def unfinished_runs(root: str | Path) -> list[Path]:
    return [r for r in find_runs(root) if not (r / EPISODES).is_file()]


def load_train_logs(root: str | Path) -> pd.DataFrame:
    """Every train_log.csv under `root` with the run columns (empty DataFrame if none)."""
    root = Path(root)
    runs, _ = finished_runs(root)
    frames = [
        _with_run_columns(read_train_log(run), run, root)
        for run in runs
        if (run / TRAIN_LOG).is_file()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RUN_COLUMNS)
