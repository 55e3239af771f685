"""A small copy of a folder of finished runs, for committing: `mesaworld publish SRC DEST`.

Every README table regenerates from committed data (`docs/results/`), and a sweep's folder holds
far more than a table needs: weights, resumable training state, per-run figures, locks, caches.
`publish` copies what analysis reads and nothing else:

    per run folder (a folder with config.json)   config.json, agent.json, episodes.csv,
                                                 eval.json, eval_<split>.npz, train_log.csv,
                                                 probes/*.csv
    analysis/ and readout/ of any folder         *.csv and *.json (not the `.runs` resume cache,
                                                 not the drawn PNG/PDF files)

Every run under SRC must be finished (its episodes.csv written): a committed copy is never half
a sweep. The copy is made under SRC's lock (a sweep still writing there refuses it), into a
temporary folder beside DEST that is renamed into place whole, so DEST either holds the whole
copy or does not exist, also after a kill (a kill -9 leaves a hidden `.DEST.*.tmp` folder beside
it, removed by the next publish to DEST). DEST must not exist.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from mesaworld.analysis.runfolder import find_runs, is_finished
from mesaworld.analysis.storage import exclusive

RUN_FILES = ("config.json", "agent.json", "episodes.csv", "eval.json", "train_log.csv")
TABLE_DIRS = ("analysis", "readout")


class PublishError(ValueError):
    """A folder that cannot be published as asked (one line naming the problem)."""


def _run_files(run: Path) -> list[Path]:
    files = [run / name for name in RUN_FILES if (run / name).is_file()]
    files += sorted(run.glob("eval_*.npz"))
    files += sorted((run / "probes").glob("*.csv"))
    return files


def _table_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".csv", ".json"))


def plan(src: Path) -> list[Path]:
    """The files under `src` a published copy holds (paths under `src`)."""
    runs = find_runs(src)
    if not runs:
        raise PublishError(f"publish: no run folders (config.json) under {src}")
    if unfinished := [r for r in runs if not is_finished(r)]:
        names = ", ".join(str(r.relative_to(src)) for r in unfinished[:3])
        more = f" and {len(unfinished) - 3} more" if len(unfinished) > 3 else ""
        raise PublishError(
            f"publish: {len(unfinished)} run(s) under {src} are not finished ({names}{more}); "
            "finish them (run the same sweep again) or move them out first"
        )
    files = [f for run in runs for f in _run_files(run)]
    for name in TABLE_DIRS:
        for folder in sorted(src.rglob(name)):
            if folder.is_dir() and not folder.name.startswith("."):
                files += _table_files(folder)
    return sorted(set(files))


def publish(src: str | Path, dest: str | Path) -> dict[str, int]:
    """Copy `plan(src)` to `dest` (module docstring). Returns the counts: runs, files, bytes
    copied and bytes left out."""
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        raise PublishError(f"publish: {src} is not a folder")
    if dest.exists() or dest.is_symlink():
        raise PublishError(f"publish: {dest} exists already (remove it, or pick another folder)")
    if dest.resolve().is_relative_to(src.resolve()):
        raise PublishError(f"publish: {dest} lies inside {src}; publish to a folder outside it")
    with exclusive(src, "publish"):
        files = plan(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        for stale in dest.parent.glob(f".{dest.name}.*.tmp"):  # a copy killed before its rename
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
        try:
            for f in files:
                to = tmp / f.relative_to(src)
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, to)
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    every = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    kept = sum(f.stat().st_size for f in files)
    return {"runs": len(find_runs(dest)), "files": len(files), "bytes": kept, "left": every - kept}
