"""Sweeps: a grid of (knob, seed) training runs, as ordinary run folders, resumable.

    mesaworld sweep roomba-long --knob 0,0.25 --seeds 3             # 2 local worker processes
    mesaworld sweep roomba --knob 0,0.1,0.25 --seeds 5 --workers 1  # one run after another
    mesaworld sweep coin --knob 0,0.02,0.1 --seeds 5 --backend ray  # on a local Ray instance
    mesaworld sweep coin --seeds 5 --backend ray --address ray://head:10001  # an existing cluster

`sweep_configs` builds the grid; `run_sweep` trains every run that is not finished yet:
a finished run folder is kept as it is, an interrupted one resumes from its checkpoint (exactly,
see `mesaworld.experiments.training.trainer`), so re-running the same command after a crash or a kill completes the
grid with no duplicate and no missing run. Writes are atomic: a killed run never leaves a
half-written result. Each run's config records its own `torch_threads` (the preset's, 1 unless
`--torch-threads` says otherwise: one thread per run stays fast when runs share the cores), so the
same config gives the same numbers however the grid is scheduled.

Stopping a local sweep stops its workers. SIGTERM or SIGINT (Ctrl-C) to the sweep ends its worker
processes at once and fails in one line (`SweepStopped`); a failing run stops the others the
same way. If the sweep process dies without a word (SIGKILL, the out-of-memory killer), its
workers are ended by the kernel (Linux: PR_SET_PDEATHSIG; elsewhere a thread in each worker
watches for the parent to go), so no worker trains on as an orphan and every run folder's lock
is released with it. Either way the same command run again resumes the grid.

Backends: "local" (spawned worker processes on this machine) and "ray" (the optional `ray` extra).
With Ray, each run is one task asking for `torch_threads` CPUs, and the run folders are the
same files the local backend writes. Without `--address` a private local Ray instance is
started for the sweep and its session files, logs and auth token live in <sweep>/.ray (not in
/tmp/ray or ~/.ray); with `--address` the sweep joins an existing cluster, whose nodes must have
mesaworld installed and see the sweep folder (a shared file system).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

from mesaworld.analysis.runfolder import (
    atomic_write_text,
    check_same_config,
    exclusive,
    is_finished,
    is_run,
)
from mesaworld.experiments.training.baselines import write_baselines
from mesaworld.experiments.training.config import ConfigError, TrainConfig, preset
from mesaworld.experiments.training.evaluate import EvalSettings
from mesaworld.experiments.training.progress import job_line
from mesaworld.experiments.training.trainer import train
from mesaworld.experiments.training.workers import (
    analysis_worker,
    sigint_blocked,
    stop_pool,
    stop_signals,
    sweep_worker,
)

BACKENDS = ("local", "ray")
MAX_RUNS = 10_000  # runs in one sweep (100 knobs x 100 seeds); a larger grid is a typo


class SweepError(RuntimeError):
    """A run of the sweep failed; the message names the run and the cause."""


class SweepStopped(SweepError):
    """The sweep was stopped by a signal (SIGTERM, SIGINT); its workers were ended with it."""


def sweep_configs(
    preset_name: str, knobs: list[float], seeds: int, workers: int = 1, **overrides
) -> list[TrainConfig]:
    """Every (knob, seed) config of the grid, seeds 0..seeds-1, knob-major."""
    if seeds < 1:
        raise ConfigError(f"seeds: must be at least 1, got {seeds}")
    if not knobs:
        raise ConfigError("knob: give at least one value")
    if workers < 1:
        raise ConfigError(f"workers: must be at least 1, got {workers}")
    if len(set(knobs)) != len(knobs):
        raise ConfigError(f"knob: values repeat in {knobs}")
    if len(knobs) * seeds > MAX_RUNS:
        raise ConfigError(
            f"seeds: a grid of {len(knobs)} knobs x {seeds} seeds is {len(knobs) * seeds:,} runs; "
            f"at most {MAX_RUNS:,} in one sweep"
        )
    return [preset(preset_name, knob=k, seed=s, **overrides) for k in knobs for s in range(seeds)]


def parallel_map(fn, jobs: list, workers: int, names: list[str] | None = None) -> list:
    """[fn(*job) for job in jobs] in `workers` spawned processes, one torch thread each (in
    order; in this process when workers == 1). `fn` must be a module-level function. For
    analysis whose numbers do not depend on the process (every evaluation has its own seed).
    With `names`, a line per finished job on stderr with the time left (`job_line`)."""
    start, results = time.perf_counter(), [None] * len(jobs)

    def say(done: int, i: int) -> None:
        if names is not None:
            print(job_line(done, len(jobs), start, names[i]), file=sys.stderr, flush=True)

    if workers == 1 or len(jobs) < 2:
        for i, job in enumerate(jobs):
            results[i] = fn(*job)
            say(i + 1, i)
        return results
    ctx = get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=analysis_worker, initargs=(os.getpid(),)
    ) as pool:
        index = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(index), 1):
            results[index[future]] = future.result()
            say(done, index[future])
    return results


def _train_one(cfg_dict: dict, run_dir: str) -> str:
    # In a worker process: rebuild the config from plain data (no pickled classes cross over).
    train(TrainConfig.from_dict(cfg_dict), run_dir, resume=True, quiet=True)
    return run_dir


def run_sweep(
    configs: list[TrainConfig],
    root: str | Path,
    workers: int = 1,
    quiet: bool = False,
    baselines: bool = True,
    backend: str = "local",
    address: str | None = None,
    stream=None,
) -> list[Path]:
    """Train every unfinished run of the grid under `root`; return all run folders (in grid
    order). Unless `quiet`, a line per finished run with the time left goes to `stream`
    (stdout by default; the experiment scripts send it to stderr). With `baselines`, the task's baseline run folders are written first (kept if they
    exist), so the analysis can anchor the pseudo-alignment index. A failing run stops the sweep
    with its error; finished runs stay finished. With local workers, SIGTERM or SIGINT ends the
    workers and raises `SweepStopped` (runs in flight resume on the next call), and a failing run
    ends the runs beside it the same way."""
    root = Path(root)
    if backend not in BACKENDS:
        raise ConfigError(f"backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if address is not None and backend != "ray":
        raise ConfigError("address: only used with --backend ray")
    if backend == "ray":
        _import_ray()  # fail before any work if the extra is missing ...
        if address is not None:
            _check_reachable(address)  # ... or the cluster is not there
    for cfg in configs:
        cfg.require_memory()
    with exclusive(root, "sweep"):  # a second sweep into the same folder refuses at once
        return _sweep(configs, root, workers, quiet, baselines, backend, address, stream)


def _sweep(configs, root, workers, quiet, baselines, backend, address, stream) -> list[Path]:
    if baselines:
        for cfg in {
            (c.task, c.eval_seed, c.eval_levels, c.eval_greedy): c for c in configs
        }.values():
            settings = EvalSettings(cfg.eval_seed, cfg.eval_levels, cfg.eval_greedy)
            write_baselines(cfg.task, root, settings)
    runs = [cfg.default_run_dir(root) for cfg in configs]
    todo = unfinished(list(zip(configs, runs)))
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=stream, flush=True))
    say(
        f"sweep: {len(runs)} runs under {root}, {len(runs) - len(todo)} already finished, "
        f"{len(todo)} to train on {min(workers, max(len(todo), 1))} worker(s)"
    )
    if backend == "ray":
        if todo:
            _run_on_ray(todo, root, workers, address, say)
    else:
        _run_local(todo, workers, say)
    return runs


def unfinished(pairs: list[tuple[TrainConfig, Path]]) -> list[tuple[TrainConfig, Path]]:
    """The (config, run folder) pairs still to train. A folder made by another config is an
    error (never taken as done), as are two configs mapping to one folder."""
    runs = [run for _, run in pairs]
    if len(set(runs)) != len(runs):
        raise ConfigError("two configs of the sweep map to the same run folder")
    for cfg, run in pairs:
        if is_run(run):
            check_same_config(run, cfg.to_dict(), TrainConfig.defaults())
    return [(cfg, run) for cfg, run in pairs if not is_finished(run)]


def train_runs(pairs: list[tuple[TrainConfig, Path]], workers: int, say) -> None:
    """Train the unfinished (config, run folder) pairs, which may lie in different folders (an
    experiment's grid of cells), on `workers` local processes: the sweep's own loop, so a
    signal or a dead parent ends the workers the same way. The caller holds the folders'
    locks."""
    for cfg, _ in pairs:
        cfg.require_memory()
    _run_local(unfinished(pairs), workers, say)


def _run_local(todo: list, workers: int, say) -> None:
    """Train the runs in this process (one worker) or in spawned worker processes."""
    start, done = time.perf_counter(), 0
    if workers == 1 or len(todo) <= 1:
        for cfg, run in todo:
            _train_one(cfg.to_dict(), str(run))
            done += 1
            say(job_line(done, len(todo), start, str(run)))
        return
    with stop_signals() as stopped:
        # spawn: a fresh interpreter per worker (no forked torch thread pools); the workers end
        # with this process however it ends (`exit_with_parent`)
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=sweep_worker,
            initargs=(os.getpid(),),
        )
        pending, processes = set(), []
        try:
            with sigint_blocked():  # the workers start with Ctrl-C blocked, then ignore it
                for cfg, run in todo:
                    pending.add(pool.submit(_train_one, cfg.to_dict(), str(run)))
                processes = list((getattr(pool, "_processes", None) or {}).values())
            while pending and not stopped:
                # poll: a signal only notes itself in `stopped`, acted on here within 0.2 s
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        run = future.result()  # re-raises a worker's error here
                    except BrokenProcessPool:
                        raise SweepError(
                            "a worker process of the sweep died while training (killed, or out "
                            "of memory?); the sweep stopped, run the same command again to resume"
                        ) from None
                    done += 1
                    say(job_line(done, len(todo), start, str(run)))
            if stopped:
                raise SweepStopped(
                    f"sweep stopped by {stopped[0]}: its {len(processes)} worker processes were "
                    f"ended, {done} of {len(todo)} runs finished; run the same command again to "
                    "resume"
                )
        except BaseException:
            stop_pool(pool, processes)  # no run trains on after the sweep has stopped
            raise
        pool.shutdown(wait=True)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "backend: ray is not installed (pip install -e '.[ray]' adds it)"
        ) from None
    return ray


@contextmanager
def ray_session(root: Path, workers: int, address: str | None) -> Iterator[object]:
    """Connect to the Ray cluster at `address`, or start a private local instance with
    `workers` CPUs whose files live in root/.ray; shut it down afterwards."""
    ray = _import_ray()
    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_TOKEN_PATH")}
    short = None
    try:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        if address is not None:
            ray.init(address=address, log_to_driver=False)
        else:
            ray_dir = (root / ".ray").resolve()
            ray_dir.mkdir(parents=True, exist_ok=True)
            # Ray's token authentication: our own token file, not ~/.ray/auth_token.
            token = ray_dir / "auth_token"
            if not token.is_file() or not token.read_text().strip():
                atomic_write_text(token, secrets.token_hex(32))
            token.chmod(0o600)
            os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
            # Ray's unix sockets live under its temp dir and socket paths are limited to ~100
            # bytes, so Ray gets a short symlink in the system temp dir pointing at root/.ray.
            short = Path(tempfile.mkdtemp(prefix="mw-ray-"))
            (short / "r").symlink_to(ray_dir, target_is_directory=True)
            ray.init(
                num_cpus=workers,
                _temp_dir=str(short / "r"),
                include_dashboard=False,
                log_to_driver=False,
            )
        yield ray
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if short is not None:
            shutil.rmtree(short, ignore_errors=True)


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail in one line if `address` ("host:port" or "ray://host:port"; "auto" is left to Ray)
    does not accept a connection: Ray itself retries a wrong address for minutes."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"address: expected host:port or ray://host:port, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"address: cannot reach the Ray cluster at {address} ({e})") from None


def _run_on_ray(todo: list, root: Path, workers: int, address: str | None, say) -> None:
    start, done = time.perf_counter(), 0
    with ray_session(root, workers, address) as ray:
        remote = ray.remote(_train_one)
        refs = {
            remote.options(num_cpus=cfg.torch_threads, max_retries=0).remote(
                cfg.to_dict(), str(run.resolve())
            ): run
            for cfg, run in todo
        }
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    ray.get(ref)
                except Exception as e:
                    for other in pending:
                        ray.cancel(other, force=True)
                    cause = getattr(e, "cause", None) or e
                    raise SweepError(
                        f"run {refs[ref]} failed on Ray: {type(cause).__name__}: {cause}"
                    ) from None
                done += 1
                say(job_line(done, len(todo), start, str(refs[ref])))
