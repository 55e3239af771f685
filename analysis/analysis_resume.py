"""Per-run resume of `mesaworld analyze`: a killed analysis continues where it stopped.

Each run's finished analysis (its table row, the recovered reward and the levels it used) is
saved as `<out>/.runs/<digest>.npz` the moment it is done; `digest` hashes what the analysis
is a function of: the run folder's path below the root, its evaluation files (episodes.csv and
the eval_<split>.npz arrays) and the analysis settings. A re-run finds the file, rebuilds the
exported table of the same levels (the cheap part; IRL and the attribution are the slow ones)
and skips the run. A changed evaluation or setting has another digest, so a stale result is
never used. Files are written atomically and read with allow_pickle=False; one that cannot be
read is ignored (the run is analysed again). After the analysis is published the folder is
removed: the cache exists for interrupted work, not as a second copy of the results.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from mesaworld.analysis.runfolder import EPISODES, eval_arrays
from mesaworld.analysis.storage import atomic_write_bytes

FOLDER = ".runs"


def digest(run: Path, root: Path, settings) -> str:
    h = hashlib.sha256()
    try:
        rel = run.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = run.resolve().as_posix()
    h.update(rel.encode() + b"\0" + json.dumps(asdict(settings), sort_keys=True).encode())
    for name in (EPISODES, eval_arrays("deploy"), eval_arrays("train")):
        path = run / name
        h.update(name.encode() + (path.read_bytes() if path.is_file() else b"<none>"))
    return h.hexdigest()[:32]


def save(out: Path, key: str, row: dict, recovered: np.ndarray, used, seconds: dict) -> None:
    buf = io.BytesIO()
    np.savez(
        buf,
        row=np.array(json.dumps(row, default=_plain)),
        recovered=np.asarray(recovered, np.float64),
        used=np.asarray(used, np.int64),
        seconds=np.array(json.dumps(seconds)),
    )
    (Path(out) / FOLDER).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(out) / FOLDER / f"{key}.npz", buf.getvalue())


def _plain(value):
    """numpy scalars as Python ones (an int stays an int in the table)."""
    return value.item() if hasattr(value, "item") else str(value)


def load(out: Path, key: str):
    """(row, recovered, used levels, seconds) saved under `key`, or None."""
    path = Path(out) / FOLDER / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            row = json.loads(str(data["row"]))
            return row, data["recovered"], data["used"], json.loads(str(data["seconds"]))
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # a damaged file: analyse the run again


def clear(out: Path) -> None:
    shutil.rmtree(Path(out) / FOLDER, ignore_errors=True)
