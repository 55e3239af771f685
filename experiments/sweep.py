"""Sweeps: a grid of (knob, seed) training runs, as ordinary run folders, resumable.

    mesaworld sweep roomba-long --knob 0,0.25 --seeds 3             # 2 local worker processes
    mesaworld sweep roomba --knob 0,0.1,0.25 --seeds 5 --workers 1  # one run after another

`sweep_configs` builds the grid; `run_sweep` trains every run that is not finished yet:
a finished run folder is kept as it is, an interrupted one resumes from its checkpoint (exactly,
see `experiments.train`), so re-running the same command after a crash or a kill completes the
grid with no duplicate and no missing run. Writes are atomic: a killed run never leaves a
half-written result. Each run's config records its own `torch_threads` (the cores divided among
the workers), so the same config gives the same numbers however the grid is scheduled.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from experiments.config import ConfigError, TrainConfig, preset
from experiments.runio import is_finished, is_run


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
    threads = overrides.pop("torch_threads", max(1, (os.cpu_count() or 1) // workers))
    return [
        preset(preset_name, knob=k, seed=s, torch_threads=threads, **overrides)
        for k in knobs
        for s in range(seeds)
    ]


def _train_one(cfg_dict: dict, run_dir: str) -> str:
    # In a worker process: rebuild the config from plain data (no pickled classes cross over).
    from experiments.train import train

    train(TrainConfig.from_dict(cfg_dict), run_dir, resume=True, quiet=True)
    return run_dir


def run_sweep(
    configs: list[TrainConfig],
    root: str | Path,
    workers: int = 1,
    quiet: bool = False,
    baselines: bool = True,
) -> list[Path]:
    """Train every unfinished run of the grid under `root`; return all run folders (in grid
    order). With `baselines`, the task's baseline run folders are written first (kept if they
    exist), so the analysis can anchor the pseudo-alignment index. A failing run stops the sweep
    with its error; finished runs stay finished."""
    from experiments.baselines import write_baselines
    from experiments.evaluate import EvalSettings
    from experiments.train import check_same_config, default_run_dir

    root = Path(root)
    if baselines:
        for cfg in {
            (c.task, c.eval_seed, c.eval_levels, c.eval_greedy): c for c in configs
        }.values():
            settings = EvalSettings(cfg.eval_seed, cfg.eval_levels, cfg.eval_greedy)
            write_baselines(cfg.task, root, settings)
    runs = [default_run_dir(cfg, root) for cfg in configs]
    if len(set(runs)) != len(runs):
        raise ConfigError("two configs of the sweep map to the same run folder")
    for cfg, run in zip(configs, runs):
        if is_run(run):
            check_same_config(cfg, run)  # a folder made by another grid is never taken as done
    todo = [(cfg, run) for cfg, run in zip(configs, runs) if not is_finished(run)]
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    say(
        f"sweep: {len(runs)} runs under {root}, {len(runs) - len(todo)} already finished, "
        f"{len(todo)} to train on {min(workers, max(len(todo), 1))} worker(s)"
    )
    start, done = time.perf_counter(), 0
    if workers == 1 or len(todo) <= 1:
        for cfg, run in todo:
            _train_one(cfg.to_dict(), str(run))
            done += 1
            say(f"[{done}/{len(todo)}] {run} ({time.perf_counter() - start:.0f} s)")
        return runs
    # spawn: a fresh interpreter per worker (no forked torch thread pools)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(_train_one, cfg.to_dict(), str(run)) for cfg, run in todo}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    run = future.result()  # re-raises a worker's error here
                    done += 1
                    say(f"[{done}/{len(todo)}] {run} ({time.perf_counter() - start:.0f} s)")
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return runs
