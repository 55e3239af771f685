"""What the numbered experiment scripts (e01-e06) share: their path checks, made before any work,
and their common tail.

BadArgument            the error every check raises: one line naming the option and the problem
                       (a ValueError, so the scripts' existing `except ... ValueError` catches it)
fail(script, problem)  prints "<script>: error: <problem>" on stderr and returns 2, the exit status
check_out_folder(option, path, files=(), folders=())
                       an output folder that exists and is writable or can be made; `files` and
                       `folders` name what the script will write inside it, each checked to be of
                       the right kind where it already exists
check_out_file(option, path)
                       an output file whose folder exists and is writable; returns where to write
                       (a symlink to a file is written through, as a plain open() would)
check_in_folders(option, paths)
                       input folders that exist
figure_files(stem)     the file names `save_figure` writes for a figure (for check_out_folder)
write_tables(out, tables)
                       CSV files (index left out) written as one step (`storage.publish`)
finish(out, tables, figure, text)
                       the tail: the tables, then the figure, then the printed table

The checks exist because a script that trains or probes for minutes and then finds it cannot
write its results has wasted that time; and they run at the start so that a bad path costs one
line on stderr and nothing else (no traceback, no half-written output).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from mesaworld.analysis.storage import publish

EXIT_BAD_ARGUMENT = 2  # argparse's status for a bad command line
FIGURE_SUFFIXES = (".png", ".pdf")  # what analysis.figure_files.save_figure writes


class BadArgument(ValueError):
    """A command-line path that cannot be used as asked (the message names the option)."""


def fail(script: str, problem: object) -> int:
    """Report `problem` in one line on stderr; the exit status to return. A message of several
    lines (some library errors have them) is joined, so the report stays one line."""
    lines = [line.strip() for line in str(problem).splitlines() if line.strip()]
    print(f"{script}: error: {'; '.join(lines)}", file=sys.stderr)
    return EXIT_BAD_ARGUMENT


def _stat(path: Path) -> os.stat_result | str:
    """The stat of `path` (links followed), or why it has none, as words for a message."""
    try:
        return os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symlink loop" if os.path.islink(path) else "passes through a symlink loop"
        if os.path.islink(path):  # lstat works, stat does not: the link points nowhere
            return f"is a symlink to {os.readlink(path)}, which does not exist"
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "does not exist"
        return f"cannot be read ({e.strerror})"


def _writable(folder: Path) -> str | None:
    """Why files cannot be made in `folder`, or None. A real temp file is made and removed:
    os.access says yes to root on read-only places such as /sys, where writing still fails.
    The name matches storage's temp-file pattern, so even a kill mid-check leaves nothing that
    a run folder's lock holder would not clean up."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
    except OSError as e:
        return f"cannot write in {folder} ({e.strerror})"
    os.close(fd)
    os.unlink(tmp)
    return None


def _folder_problem(path: Path) -> str | None:
    """Why `path` cannot be used (or made) as a writable folder, or None."""
    st = _stat(path)
    if isinstance(st, os.stat_result):
        if not stat.S_ISDIR(st.st_mode):
            return f"{path} is a file, not a folder"
        return _writable(path)
    if st != "does not exist":
        return f"{path} {st}"
    # Missing: it will be made (with its parents) inside the nearest folder that exists; the
    # parents of a relative path end at ".", of an absolute one at "/": both always exist.
    for parent in path.parents:
        up = _stat(parent)
        if isinstance(up, os.stat_result):
            if not stat.S_ISDIR(up.st_mode):
                return f"{parent} is a file, not a folder, so {path} cannot be made"
            problem = _writable(parent)
            return problem and f"{problem}, so {path} cannot be made"
        if up != "does not exist":
            return f"{parent} {up}, so {path} cannot be made"
    return _writable(Path.cwd())  # path is "" or ".": the current folder


def check_out_folder(
    option: str, path: str | Path, files: Iterable[str] = (), folders: Iterable[str] = ()
) -> Path:
    """`path` as an output folder (made later, by the script); BadArgument if it cannot be one,
    or if one of the `files` it will hold is a folder or one of the `folders` is not a folder.
    (Those otherwise fail only when the script writes them, after its work.)"""
    path = Path(path)
    problem = _folder_problem(path)
    if problem is None:
        for name in files:
            if (path / name).is_dir():
                problem = f"{path / name} is a folder, where a file is to be written"
                break
    if problem is None:
        for name in folders:
            if os.path.lexists(path / name) and (problem := _folder_problem(path / name)):
                break
    if problem:
        raise BadArgument(f"{option}: {problem}")
    return path


def check_out_file(option: str, path: str | Path) -> Path:
    """Where to write the output file `path`: BadArgument unless it is a writable regular file
    or a new file in a writable existing folder (its folder is not made, as open() would not)."""
    path = Path(path)
    st = _stat(path)
    problem = None
    if isinstance(st, os.stat_result):
        path = path.resolve()  # write through a symlink, not over it
        if stat.S_ISDIR(st.st_mode):
            problem = f"{path} is a folder, not a file"
        elif not stat.S_ISREG(st.st_mode):
            problem = f"{path} is not a regular file"  # e.g. /dev/null: never replaced
        elif not os.access(path, os.W_OK):
            problem = f"{path} is read-only"
        else:
            problem = _writable(path.parent)
    elif st != "does not exist":
        problem = f"{path} {st}"
    else:
        parent = path.parent
        up = _stat(parent)
        if not isinstance(up, os.stat_result):
            problem = f"folder {parent} {up}"
        elif not stat.S_ISDIR(up.st_mode):
            problem = f"{parent} is a file, not a folder"
        else:
            problem = _writable(parent)
    if problem:
        raise BadArgument(f"{option}: {problem}")
    return path


def check_in_folders(option: str, paths: Iterable[str | Path]) -> list[Path]:
    """`paths` as input folders; BadArgument naming the first that is not a folder (checked
    before any is read, so a typo in the last one costs nothing)."""
    out = []
    for path in map(Path, paths):
        st = _stat(path)
        if not isinstance(st, os.stat_result):
            raise BadArgument(f"{option}: {path} {st}")
        if not stat.S_ISDIR(st.st_mode):
            raise BadArgument(f"{option}: {path} is a file, not a folder")
        out.append(path)
    return out


def figure_files(stem: str) -> list[str]:
    """The names `save_figure(fig, out / stem)` writes, to check before drawing them."""
    return [f"{stem}{suffix}" for suffix in FIGURE_SUFFIXES]


def write_tables(out: Path, tables: Mapping[str, pd.DataFrame]) -> None:
    """Each table to out/<name> (CSV, no index) as one step: the last one is moved in last, so a
    kill leaves the previous complete set or one without it, never new runs beside old cells."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {name: frame.to_csv(index=False).encode("utf-8") for name, frame in tables.items()}
    publish(out, files, last=list(files)[-1])


def finish(
    out: Path, tables: Mapping[str, pd.DataFrame], figure: Callable[[], object], text: str
) -> None:
    """The experiments' common tail: `tables` into `out`, then `figure()`, then print `text`
    (the README's table). Tables first: a figure that fails leaves the numbers written."""
    write_tables(out, tables)
    figure()
    print(text)
