"""Read run folders into tidy DataFrames. This is the only way analysis sees experiments.

load_runs(root)        one row per evaluation episode of every finished run under `root`,
                       with the run's columns (run, kind, agent, role, task, knob, seed,
                       total_steps, preset) beside the episode's (split, level, length,
                       return/<objective>, measure/<m>, count/<thing>, optimal/<objective>)
load_train_logs(root)  one row per PPO update of every run that has a train_log.csv
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

CONFIG, EPISODES, TRAIN_LOG = "config.json", "episodes.csv", "train_log.csv"
RUN_COLUMNS = ("run", "kind", "agent", "role", "task", "knob", "seed", "total_steps", "preset")


class RunsError(ValueError):
    """A missing root or an unreadable run folder (the message names the file)."""


def find_runs(root: str | Path) -> list[Path]:
    """Every folder under `root` (itself included) holding a config.json, sorted."""
    root = Path(root)
    if not root.exists():
        raise RunsError(f"no such folder: {root}")
    if not root.is_dir():
        raise RunsError(f"not a folder: {root}")
    return sorted(p.parent for p in root.rglob(CONFIG))


def run_info(run: Path, root: Path) -> dict:
    """The run-level columns, from config.json."""
    try:
        meta = json.loads((run / CONFIG).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunsError(f"{run / CONFIG}: unreadable ({e})") from None
    cfg = meta.get("config", {})
    try:
        rel = run.relative_to(root).as_posix()
    except ValueError:
        rel = run.as_posix()
    return {
        "run": rel if rel != "." else run.name,
        "kind": meta.get("kind", "?"),
        "agent": meta.get("agent", "?"),
        "role": meta.get("role", "trained"),
        "task": meta.get("task", cfg.get("task", "?")),
        "knob": float(meta.get("knob", float("nan"))),
        "seed": cfg.get("seed", meta.get("seed", 0)),
        "total_steps": cfg.get("total_steps", 0),
        "preset": cfg.get("preset", meta.get("agent", "?")),
    }


def _read(run: Path, root: Path, name: str) -> pd.DataFrame:
    """run/name as a DataFrame with the run-level columns in front (RunsError if unreadable)."""
    path = run / name
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RunsError(f"{path}: unreadable ({str(e).strip().splitlines()[0]})") from None
    for key, value in reversed(run_info(run, root).items()):
        df.insert(0, key, value)
    return df


def load_runs(root: str | Path) -> pd.DataFrame:
    """All evaluation episodes of all finished runs under `root` (unfinished runs are left out;
    `unfinished_runs(root)` lists them)."""
    root = Path(root)
    frames = []
    for run in find_runs(root):
        if not (run / EPISODES).is_file():
            continue
        df = _read(run, root, EPISODES)
        if not {"split", "level", "return/base"} <= set(df.columns):
            raise RunsError(
                f"{run / EPISODES}: not an episodes file (no split/level/return/base columns)"
            )
        frames.append(df)
    if not frames:
        raise RunsError(f"no finished run folders (with {EPISODES}) under {root}")
    return pd.concat(frames, ignore_index=True)


def unfinished_runs(root: str | Path) -> list[Path]:
    return [r for r in find_runs(root) if not (r / EPISODES).is_file()]


def load_train_logs(root: str | Path) -> pd.DataFrame:
    """Every train_log.csv under `root` with the run columns (empty DataFrame if none)."""
    root = Path(root)
    frames = [_read(run, root, TRAIN_LOG) for run in find_runs(root) if (run / TRAIN_LOG).is_file()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RUN_COLUMNS)
