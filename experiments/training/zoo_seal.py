"""`mesaworld zoo seal RUN... --out Z --seed S`: a sealed zoo made of run folders that are already
trained, in the layout of `mesaworld zoo build` (`mesaworld.experiments.training.zoo`), so
`mesaworld zoo show`, `mesaworld verdicts` and `mesaworld audit` read it unchanged.

    Z/            zoo.json and agents/<id>/{agent.pt, agent.json, task.json}, written by zoo
                  build's own writers (agent.json holds the architecture only: no global_step)
    Z.key/        key.json: the seed S and, per agent, the run's full training config, its source
                  folder (name and path as given), preset, knob, mixture weight w, proxy, budget,
                  seed, the planted objective (`zoo_truth.planted` from the config's knob and
                  reward_weights) and the measured deploy behaviour (`zoo_truth.measured` from
                  the run's own episodes.csv and its task's baselines: nothing is re-evaluated;
                  "levels" in it counts the deploy levels)

Ids a00, a01, ... are assigned to the runs in an order shuffled by S: the same runs and S give the
same ids whatever order the runs are named in (ids follow the sorted run paths as given). A run is a finished trained run folder
(config.json of kind "ppo", agent.pt, agent.json, episodes.csv); its task's baselines are the
folders baseline_<task>_<name> beside it, finished on the run's evaluation levels. A run trained
on a reward mixing anything but the base objective and the task's first proxy is refused (the
planted rule knows only those mixtures).

Sealing is all or nothing: every check runs before anything is written, the zoo and its key are
staged in a hidden sibling .<Z>.sealing (held under its lock: two seals into one Z are refused)
and renamed into place, the key first and Z last, so a Z that exists has its whole key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.runfolder import (
    AGENT_FILE,
    AGENT_META,
    EPISODES,
    RunFolderError,
    baseline_dir,
    read_config,
)
from mesaworld.analysis.storage import exclusive
from mesaworld.envs.registry import get_task
from mesaworld.experiments.training.baselines import baseline_policies
from mesaworld.experiments.training.config import TrainConfig
from mesaworld.experiments.training.zoo import (
    FORMAT,
    ZooError,
    _publish_agent,
    _write_key,
    key_dir,
    public_index,
)
from mesaworld.experiments.training.zoo_truth import measured, planted, run_frame


def _mixture(cfg: TrainConfig, run: Path) -> tuple[str, float]:
    """(the task's first proxy, the weight w of the run's reward (1 - w) * base + w * proxy)."""
    proxy = get_task(cfg.task).proxies[0]
    try:
        mix = cfg.reward_mix
    except ValueError as e:
        raise ZooError(f"{run}: reward_weights {cfg.reward_weights!r} ({e})") from None
    if mix is None:
        return proxy, 0.0
    other = sorted(set(mix) - {"base", proxy})
    if other:
        raise ZooError(
            f"{run}: trained on {', '.join(other)}; a sealed zoo takes mixtures of base and "
            f"{proxy} only"
        )
    b, p = float(mix.get("base", 0.0)), float(mix.get(proxy, 0.0))
    if b < 0 or p < 0 or b + p <= 0:
        raise ZooError(f"{run}: reward_weights {cfg.reward_weights!r} is not a mixture")
    return proxy, p / (b + p)


def _baselines(run: Path, meta: dict) -> list[Path]:
    """The task's baseline folders beside `run`, finished on the run's evaluation levels."""
    task = meta["task"]
    out = []
    for name in baseline_policies(task):
        folder = baseline_dir(run.parent, task, name)
        if not (folder / EPISODES).is_file():
            raise ZooError(f"{run}: missing baselines ({folder.name} beside it is not finished)")
        try:
            same = read_config(folder).get("eval") == meta.get("eval")
        except RunFolderError as e:
            raise ZooError(f"{run}: missing baselines ({e})") from None
        if not same:
            raise ZooError(f"{run}: missing baselines ({folder.name} has other evaluation levels)")
        out.append(folder)
    return out


def _frames(baselines) -> pd.DataFrame:
    """The baselines' episodes with their run columns, as `zoo_truth.measured` takes them."""
    return pd.concat([run_frame(Path(b)) for b in baselines], ignore_index=True)


def check_run(run: str | Path) -> dict:
    """A finished trained run folder's settings, or a one-line ZooError naming what it lacks."""
    run = Path(run)
    if not run.is_dir():
        raise ZooError(f"{run}: no such run folder")
    try:
        meta = read_config(run)
    except RunFolderError as e:
        raise ZooError(f"{run}: not a finished trained run ({e})") from None
    if meta.get("kind") != "ppo":
        raise ZooError(f"{run}: not a trained run (kind {meta.get('kind')!r})")
    for name, what in ((EPISODES, "evaluated"), (AGENT_FILE, "agent"), (AGENT_META, "agent")):
        if not (run / name).is_file():
            raise ZooError(f"{run}: not a finished trained run (no {name}: no {what})")
    try:
        cfg = TrainConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ZooError(f"{run}: unreadable training config ({e})") from None
    proxy, w = _mixture(cfg, run)
    return {
        "run": run,
        "meta": meta,
        "baselines": _baselines(run, meta),
        "entry": {
            "source": run.name,
            "source_path": run.as_posix(),
            "preset": meta.get("preset") or cfg.preset,
            "task": get_task(cfg.task).name,
            "knob": cfg.train_knob,
            "w": w,
            "proxy": proxy,
            "budget": cfg.total_steps,
            "seed": cfg.seed,
            "eval": meta.get("eval"),
            "config": meta["config"],  # as the run recorded it
        },
    }


def seal_ids(sources: list[str], seed: int) -> dict[str, str]:
    """source path -> id: a00, a01, ... in an order shuffled by `seed` (over the sorted paths)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ZooError(f"--seed must be a non-negative integer, got {seed!r}")
    order = sorted(sources)
    perm = np.random.default_rng(np.random.SeedSequence(seed)).permutation(len(order))
    return {src: f"a{int(i):02d}" for src, i in zip(order, perm, strict=True)}


def seal(runs: list[str | Path], out: str | Path, seed: int) -> dict:
    """Seal the finished run folders `runs` into the zoo `out` and its key (module docstring);
    return the key document. Refuses, in one line and before writing, a bad run or an `out`
    (or its key) that exists."""
    out = Path(out)
    key = key_dir(out)
    if not runs:
        raise ZooError("zoo seal needs at least one run folder")
    if len(runs) > 100:
        raise ZooError(f"a zoo holds at most 100 agents, got {len(runs)} run folders")
    for path in (out, key):
        if path.exists() or path.is_symlink():
            raise ZooError(f"{path} exists; zoo seal writes a new zoo only (choose another --out)")
    paths = [Path(r) for r in runs]
    if len({p.resolve() for p in paths}) < len(paths):
        raise ZooError("a run folder is named twice")
    checked = [check_run(p) for p in paths]
    ids = seal_ids([c["run"].as_posix() for c in checked], seed)
    stage = out.with_name(f".{out.name}.sealing")
    with exclusive(stage, "zoo seal"):
        for path in (out, key):  # again, under the lock
            if path.exists():
                raise ZooError(f"{path} exists; zoo seal writes a new zoo only")
        for child in stage.iterdir():  # an interrupted seal's leftovers
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        z, zk = stage / out.name, stage / key.name
        doc = {"format": FORMAT, "sealed_from_runs": True, "zoo_seed": seed}
        doc |= {"n_agents": len(checked), "agents": {}}
        frames: dict[tuple, pd.DataFrame] = {}
        settings = []
        for c in sorted(checked, key=lambda c: ids[c["run"].as_posix()]):
            entry = {"id": ids[c["run"].as_posix()]} | c["entry"]
            base_key = tuple(c["baselines"])
            if base_key not in frames:
                frames[base_key] = _frames(base_key)
            detail = planted(entry["task"], entry["proxy"], entry["w"], entry["knob"])
            entry["planted_detail"], entry["planted"] = detail, detail["planted"]
            entry["measured"] = measured(c["run"], frames[base_key])
            _publish_agent(z, c["run"], entry)
            doc["agents"][entry["id"]] = entry
            settings.append(entry)
        (z / "zoo.json").write_text(json.dumps(public_index(settings), indent=1) + "\n")
        zk.mkdir()
        _write_key(zk, doc)
        zk.rename(key)
        z.rename(out)
    shutil.rmtree(stage, ignore_errors=True)
    return doc


__all__ = ["check_run", "seal", "seal_ids"]
