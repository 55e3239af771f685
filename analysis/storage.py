"""Crash-safe files for run folders: atomic writes, multi-file publishes, and an exclusive lock.

atomic_write_bytes/text  a unique temp file in the same folder + os.replace: a reader sees the old
                         file or the new one, never half of one, and two writers never share a
                         temp file. Files get the permissions the umask allows (0644 under the
                         usual umask 022), like any other file the user writes.
publish(folder, files, last)  several files as one step: all are written to temp files first;
                         then `last` (the file whose presence means "complete") is removed, the
                         others are moved into place and `last` is moved in at the end. A kill at
                         any point leaves the previous complete set, or a folder without `last`
                         (incomplete, so the command that wrote it redoes it), never a mix.
exclusive(folder, command)  holds an advisory lock (flock) on folder/.lock while a command works
                         there; a second command on the same folder fails at once in one line.
                         The kernel releases the lock when its process dies, even by SIGKILL, so
                         a killed command never leaves a stale lock. Temp files found after the
                         lock is taken were left by a killed writer and are removed. A path that
                         is (or lies below) a file, a broken link or a link loop is refused in
                         one line before anything is made (`folder_problem`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".lock"
_TEMP_GLOB = ".*.tmp"


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (exists, incomplete, unreadable, not a run)."""


class FolderBusyError(RunFolderError):
    """Another command holds the folder's lock."""


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would race other threads)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _stage(path: Path, data: bytes) -> str:
    """Write `data` to a new temp file beside `path`; returns the temp file's name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a results file is for readers
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = _stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def publish(folder: Path, files: dict[str, bytes], last: str) -> None:
    """Write `files` (name -> bytes) into `folder` as one step, `last` last (see the module)."""
    folder = Path(folder)
    staged: dict[str, str] = {}
    try:
        for name, data in files.items():
            staged[name] = _stage(folder / name, data)
        (folder / last).unlink(missing_ok=True)  # from here until the end: incomplete
        for name, tmp in staged.items():
            if name != last:
                os.replace(tmp, folder / name)
        os.replace(staged[last], folder / last)
    except BaseException:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(folder: Path) -> None:
    """Temp files of writes cut short by a kill: never read, safe to remove under the lock."""
    for stale in Path(folder).glob(_TEMP_GLOB):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def has_content(folder: Path) -> bool:
    """Whether the folder holds anything but its lock file and stale temp files."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    return any(p.name != LOCK and not p.match(_TEMP_GLOB) for p in folder.iterdir())


def folder_problem(folder: Path, name: str | None = None, noun: str = "folder") -> str | None:
    """Why `folder` can neither be used as a folder nor be made one, as one line (None if it
    can: it is a folder, a link to one, or missing below a folder). The path itself: "<name> is
    a file, not a <noun>"; a component above it: "<name>: <component> is a file, not a folder".
    Also named: a link to a missing target, a symbolic link loop, a special file. `name` is how
    the line names the path (e.g. "--out runs/x"; default: the path)."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if not os.path.lexists(path):
            continue  # missing: mkdir makes it, if what is above it is a folder
        if path.is_dir():
            return None  # a folder (or a link to one): the rest can be made below it
        if path.is_symlink():
            try:
                os.stat(path)
                what = f"is a symbolic link to a file ({os.readlink(path)})"
            except FileNotFoundError:
                what = f"is a broken symbolic link (to {os.readlink(path)}, which does not exist)"
            except OSError:
                what = "is a symbolic link loop"
        else:
            what = "is a file" if path.is_file() else "is a special file (not a folder)"
        if path == folder:
            return f"{name or folder} {what}, not a {noun}"
        return f"{name or folder}: {path} {what}, not a folder"
    return None


@contextmanager
def exclusive(folder: Path, command: str) -> Iterator[Path]:
    """Hold folder/.lock (the folder is created if needed) while `command` works in it. A path
    that is, or lies below, a file or a broken link is refused in one line (`folder_problem`)."""
    folder = Path(folder)
    problem = folder_problem(folder)
    if problem is not None:
        raise RunFolderError(problem)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderBusyError(
            f"{folder} is in use by another mesaworld command; {command} does not run beside "
            "it (wait for that command to finish, or choose another folder)"
        ) from None
    try:
        remove_stale_temps(folder)
        yield folder
    finally:
        os.close(fd)  # releases the lock
