"""Worker processes that end with their parent: what the sweep's local backend and
`parallel_map` run in each spawned worker, and how the parent stops its pool on a signal.

    exit_with_parent(parent)   the kernel (Linux PR_SET_PDEATHSIG) or a watch thread ends a
                                worker whose parent dies, even by SIGKILL
    sweep_worker, analysis_worker   pool initializers
    stop_signals()             SIGTERM/SIGINT recorded while a pool runs, not raised
    sigint_blocked()           SIGINT held back while workers start
    stop_pool(pool, processes) end a pool's workers (SIGTERM, then SIGKILL after a grace)
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import torch

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(parent: int) -> None:
    """In a worker process: make sure it ends when `parent` (the process that started it) does,
    even by SIGKILL. On Linux the kernel sends the worker SIGKILL when its parent exits
    (PR_SET_PDEATHSIG); elsewhere a daemon thread polls os.getppid(). A worker whose parent is
    already gone (it died before the request) exits here. The workers hold the write end of the
    multiprocessing resource tracker's pipe, so once they are gone the tracker sees EOF and
    exits too."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:
        os._exit(1)
    if not armed:
        threading.Thread(
            target=watch_parent, args=(parent,), name="mesaworld-parent-watch", daemon=True
        ).start()


def watch_parent(parent: int, every: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)  # orphaned: end the whole worker process (the kernel releases its locks)


def analysis_worker(parent: int) -> None:
    """Initializer of `parallel_map`'s workers."""
    exit_with_parent(parent)
    torch.set_num_threads(1)


def sweep_worker(parent: int) -> None:
    """Initializer of the sweep's workers. SIGINT is ignored: Ctrl-C reaches the whole process
    group, and the sweep process decides (it ends the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked by the sweep while it started us
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    exit_with_parent(parent)


@contextmanager
def stop_signals() -> Iterator[list[str]]:
    """While the pool runs, SIGTERM and SIGINT append their name to the yielded list (the
    sweep loop then stops the pool and raises `SweepStopped`); the handlers are restored after.
    Signal handlers belong to the main thread: called from another thread, none is set."""
    stopped: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def note(signum, frame) -> None:
        stopped.append(signal.Signals(signum).name)

    saved = {sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopped
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while the workers start: they inherit the mask (so a Ctrl-C
    while a worker imports torch is no traceback in it), and a Ctrl-C that arrives meanwhile
    reaches this process when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def stop_pool(pool: ProcessPoolExecutor, processes: list, grace: float = 5.0) -> None:
    """Cancel the runs not started, end the worker processes (SIGTERM, SIGKILL after `grace`
    seconds) and let the pool's manager thread wind down. A run cut short keeps its last
    checkpoint; its folder lock goes with its process."""
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    deadline = time.monotonic() + grace
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.exitcode is None:
            p.kill()
            p.join(1.0)
    pool.shutdown(wait=True)  # the manager thread sees the workers gone and ends


# --- the Ray backend ------------------------------------------------------------------------------
