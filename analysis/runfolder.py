"""The run folder, mesaworld's interface between experiments and analysis: its file names, column
prefixes, the `config.json` schema, one reader and one crash-safe writer. Nothing else in the
project spells a run-folder file name or parses config.json. (No torch here: analysis imports this
module and never training code.)

A run folder holds:
    config.json      one shape for every kind of run (`run_meta`): schema, kind, agent, role, task,
                     knob, seed, budget, preset, evaluation settings, the full training config
                     ({} for baselines), objectives, versions, git commit, creation time
    train_log.csv    one row per PPO update (learning curves); absent for baselines
    agent.pt/.json   the checkpoint: tensors only (loaded with weights_only=True) + how to rebuild
    train_state.pt   optimizer, random streams and env state, for `--resume` (deleted when done)
    eval_<split>.npz evaluation arrays (levels, visits, actions, frames); eval.json its settings
    episodes.csv     one row per evaluation episode (written last: its presence means finished)

Columns: episodes.csv has `return/<objective>`, `measure/<name>`, `count/<object>`,
`optimal/<objective>`; analysis adds `score/<objective>`; the train log has `objective/<name>`
and `measure/<name>`. A confidence interval of a metric `m` is always the columns `m:lo`, `m:hi`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mesaworld.analysis.provenance import provenance
from mesaworld.analysis.storage import (  # noqa: F401  (the run folder's writers, re-exported)
    LOCK,
    FolderBusyError,
    RunFolderError,
    atomic_write_bytes,
    atomic_write_text,
    exclusive,
    folder_problem,
    has_content,
    publish,
    remove_stale_temps,
)
from mesaworld.envs.generators import SPLITS
from mesaworld.envs.registry import TASKS, canonical

SCHEMA = 2
CONFIG, TRAIN_LOG, EPISODES, TRAIN_STATE = (
    "config.json",
    "train_log.csv",
    "episodes.csv",
    "train_state.pt",
)
AGENT_FILE, AGENT_META, EVAL_SETTINGS, FIGURES = "agent.pt", "agent.json", "eval.json", "figures"
RETURN, MEASURE, COUNT, OPTIMAL, SCORE = "return/", "measure/", "count/", "optimal/", "score/"
OBJECTIVE = "objective/"
KINDS = ("ppo", "scripted", "random")  # how the agent was made (scripted: a task's baseline)
# Kinds renamed since they were written: read as the new name ("planner" is a network's name).
OLD_KINDS = {"planner": "scripted"}
ROLES = ("trained", "aligned", "proxy", "random")  # what analysis uses it for
RUN_COLUMNS = (
    "run", "kind", "agent", "role", "task", "knob", "seed", "total_steps", "preset", "reward"
)  # fmt: skip


def eval_arrays(split: str) -> str:
    """File name of a split's evaluation arrays."""
    return f"eval_{split}.npz"


def ci_columns(metric: str) -> tuple[str, str]:
    """The lower and upper interval columns of a metric."""
    return f"{metric}:lo", f"{metric}:hi"


def is_ci(column: str) -> bool:
    return column.endswith((":lo", ":hi"))


# --- writing --------------------------------------------------------------------------------
def csv_text(rows: list[dict]) -> str:
    """Rows (dicts with the same keys) as CSV text; floats round-trip exactly, NaN as "nan"."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _cell(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return repr(float(v)) if np.isfinite(v) else "nan"
    return str(v)


def run_meta(
    *,
    kind: str,
    agent: str,
    role: str,
    task: str,
    knob: float | None,
    seed: int,
    eval_settings: dict,
    config: dict | None = None,
    total_steps: int = 0,
    preset: str = "",
) -> dict:
    """config.json of any run, in the one shape every reader expects."""
    spec = TASKS[task]
    if kind not in KINDS or role not in ROLES:
        raise RunFolderError(f"kind/role must be in {KINDS}/{ROLES}, got {kind!r}/{role!r}")
    return {
        "schema": SCHEMA,
        "kind": kind,
        "agent": agent,
        "role": role,
        "task": task,
        "knob_name": spec.shift.knob_name,
        "knob": None if knob is None else float(knob),
        "seed": int(seed),
        "total_steps": int(total_steps),
        "preset": preset,
        "eval": dict(eval_settings),
        "config": dict(config or {}),
        "objectives": list(spec.objectives),
        "reward": spec.task_cls.reward,
        "measures": list(spec.task_cls.measures),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **provenance(),
    }


def write_config(folder: Path, meta: dict) -> None:
    atomic_write_text(Path(folder) / CONFIG, json.dumps(meta, indent=2) + "\n")


# --- reading --------------------------------------------------------------------------------
def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{path} is missing") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} does not hold a JSON object")
    return data


_REQUIRED = {
    "kind": str,
    "agent": str,
    "role": str,
    "task": str,
    "seed": int,
    "total_steps": int,
    "preset": str,
    "eval": dict,
    "config": dict,
}


def read_config(folder: Path) -> dict:
    """config.json of a run folder, validated; folders of the first schema (no "schema" key,
    written before mesaworld 0.2) are read in the current shape. The knob is a float (NaN for
    baselines). RunFolderError names the file and the problem."""
    path = Path(folder) / CONFIG
    meta = read_json(path)
    if "schema" not in meta:
        meta = _from_schema_1(meta, path)
    elif meta["schema"] != SCHEMA:
        raise RunFolderError(
            f"{path}: schema {meta['schema']!r} is not one this mesaworld reads ({SCHEMA}); "
            "use the mesaworld version that wrote it"
        )
    if isinstance(meta.get("kind"), str) and meta["kind"] in OLD_KINDS:  # written before a rename
        meta["kind"] = OLD_KINDS[meta["kind"]]
    for key, kind in _REQUIRED.items():
        if not isinstance(meta.get(key), kind) or (kind is int and isinstance(meta[key], bool)):
            raise RunFolderError(f"{path}: field {key!r} missing or not {kind.__name__}")
    if meta["kind"] not in KINDS or meta["role"] not in ROLES:
        raise RunFolderError(f"{path}: kind {meta['kind']!r} / role {meta['role']!r} unknown")
    meta["task"] = canonical(meta["task"])
    if meta["task"] not in TASKS:
        raise RunFolderError(f"{path}: unknown task {meta['task']!r}; known: {', '.join(TASKS)}")
    knob = meta.get("knob")
    meta["knob"] = float("nan") if knob is None else float(knob)
    if meta["kind"] == "ppo" and isinstance(meta.get("config"), dict):
        # The steps that ran, also for folders that recorded the request: old and new runs of
        # one preset then group together.
        meta["config"] = _steps_run(meta["config"])
        meta["total_steps"] = meta["config"].get("total_steps", meta["total_steps"])
    return meta


def _from_schema_1(old: dict, path: Path) -> dict:
    """The config.json of mesaworld <= 0.1 (PPO runs and baselines had different shapes)."""
    kind = old.get("kind")
    task = canonical(old.get("task", old.get("config", {}).get("task", "")))
    if kind == "ppo":
        cfg = dict(old.get("config", {}))
        if "task" in cfg:
            cfg["task"] = task
        evaluation = {
            "eval_seed": cfg.get("eval_seed"),
            "levels": cfg.get("eval_levels"),
            "greedy": cfg.get("eval_greedy", False),
        }
        meta = dict(old, role="trained", seed=cfg.get("seed"), config=cfg, eval=evaluation)
        meta.update(total_steps=cfg.get("total_steps"), preset=cfg.get("preset"))
    elif kind == "baseline":
        new_kind = "random" if old.get("role") == "random" else "scripted"
        meta = dict(old, kind=new_kind, seed=0, total_steps=0, preset="", config={})
    else:
        raise RunFolderError(f"{path}: not a mesaworld run folder config (kind {kind!r})")
    knob = meta.get("knob")
    meta["knob"] = None if knob is None or (isinstance(knob, float) and math.isnan(knob)) else knob
    meta.update(task=task, schema=SCHEMA)
    if task in TASKS:  # schema 1 did not record the reward: the task's own
        meta.setdefault("reward", TASKS[task].task_cls.reward)
    return meta


def _csv(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """The CSV at `path` (or its already-read bytes `data`), as a DataFrame."""
    try:
        return pd.read_csv(path if data is None else io.BytesIO(data))
    except FileNotFoundError:
        raise RunFolderError(f"{path} is missing") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunFolderError(f"{path}: unreadable ({first})") from None


def read_episodes(folder: Path, meta: dict | None = None) -> pd.DataFrame:
    """episodes.csv, validated against the run's config (`meta`, read if not given): every
    column the run's objectives need, known split values, no missing entries, and as many
    episodes per split as its evaluation settings say. RunFolderError names the problem."""
    folder = Path(folder)
    meta = read_config(folder) if meta is None else meta
    path = folder / EPISODES
    df = _csv(path, _check_complete_lines(path))  # the file is read once
    need = ["split", "level", "eval_seed", "length"] + [RETURN + k for k in meta["objectives"]]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise RunFolderError(f"{path}: not an episodes file (missing columns {', '.join(missing)})")
    unknown = sorted(set(df["split"].astype(str)) - set(SPLITS))
    if unknown:
        raise RunFolderError(f"{path}: unknown split value(s) {unknown}; expected {SPLITS}")
    numeric = df[need[1:]].apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any() or df["split"].isna().any():
        row = int(numeric.isna().any(axis=1).to_numpy().argmax()) + 2
        raise RunFolderError(f"{path}: line {row} is incomplete or not a number (a cut-off file?)")
    levels, splits = _evaluated_levels(folder, meta)
    counts = df["split"].value_counts()
    for split in splits:
        if levels is not None and counts.get(split, 0) != levels:
            raise RunFolderError(
                f"{path}: {counts.get(split, 0)} {split} episodes, its evaluation played {levels}"
                " (a cut-off file? re-evaluate the run)"
            )
    return df


def _check_complete_lines(path: Path) -> bytes:
    """Every line of a file mesaworld wrote has the header's number of fields and ends in a
    newline: a file cut off by a crash or a copy fails here, even where pandas would fill the
    missing fields with NaN."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RunFolderError(f"{path} is missing") from None
    except OSError as e:
        raise RunFolderError(f"{path}: unreadable ({e.strerror})") from None
    lines = data.split(b"\n")
    if lines == [b""]:
        raise RunFolderError(f"{path}: unreadable (the file is empty)")
    if len(lines) < 2 or lines[-1] != b"":
        raise RunFolderError(f"{path}: the last line is cut off (no newline at the end)")
    fields = lines[0].count(b",")
    for i, line in enumerate(lines[1:-1], start=2):
        if line.count(b",") != fields:
            raise RunFolderError(
                f"{path}: line {i} has {line.count(b',') + 1} fields, the header {fields + 1}"
            )
    return data


def _evaluated_levels(folder: Path, meta: dict) -> tuple[int | None, tuple[str, ...]]:
    """Levels per split and the splits of the folder's last evaluation (eval.json; a folder
    cut down for a test fixture may name fewer splits), else of its config."""
    path = folder / EVAL_SETTINGS
    settings = read_json(path) if path.is_file() else meta["eval"]
    levels = settings.get("levels")
    splits = tuple(settings.get("splits", SPLITS))
    return (levels if isinstance(levels, int) and not isinstance(levels, bool) else None), splits


def read_train_log(folder: Path) -> pd.DataFrame:
    """train_log.csv, validated: the update and step columns, numbers throughout."""
    path = Path(folder) / TRAIN_LOG
    df = _csv(path)
    missing = [c for c in ("update", "global_step") if c not in df.columns]
    if missing or df.empty:
        what = f"missing columns {', '.join(missing)}" if missing else "no rows"
        raise RunFolderError(f"{path}: not a training log ({what})")
    if df.apply(pd.to_numeric, errors="coerce").isna()[["update", "global_step"]].any().any():
        raise RunFolderError(f"{path}: an update or global_step entry is not a number")
    return df


def read_log_rows(folder: Path) -> list[dict]:
    """train_log.csv as a list of dicts of numbers ([] if there is none yet)."""
    path = Path(folder) / TRAIN_LOG
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def identity(meta: dict) -> str:
    """What makes two run folders the same run (same agent, config and evaluation), as text:
    copies of one run under two folders must not be counted twice."""
    keys = ("kind", "agent", "role", "task", "seed", "total_steps", "eval")
    knob = meta["knob"]  # the knob in effect (a config may say None for the task's default)
    config = {k: v for k, v in meta["config"].items() if k not in ("knob", "preset")}
    same = {k: meta[k] for k in keys} | {"knob": None if math.isnan(knob) else knob}
    return json.dumps(same | {"config": config}, sort_keys=True)


def is_run(folder: Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def is_finished(folder: Path) -> bool:
    return (Path(folder) / EPISODES).is_file()


def find_runs(root: str | Path) -> list[Path]:
    """Every folder under `root` (itself included) holding a config.json, sorted."""
    root = Path(root)
    if not root.exists():
        raise RunFolderError(f"no such folder: {root}")
    if not root.is_dir():
        raise RunFolderError(f"not a folder: {root}")
    return sorted(p.parent for p in root.rglob(CONFIG))


def default_run_dir(preset: str, knob: float, seed: int, root: str | Path = "runs") -> Path:
    """runs/<preset>_knob<k>_seed<s>, e.g. runs/roomba_knob0_seed3."""
    return Path(root) / f"{preset}_knob{knob:g}_seed{seed}"


def baseline_dir(root: str | Path, task: str, agent: str) -> Path:
    """root/baseline_<task>_<agent name with underscores>."""
    return Path(root) / f"baseline_{task}_{agent.replace(' ', '_')}"


def check_same_config(folder: Path, config: dict, defaults: dict | None = None) -> None:
    """Raise RunFolderError naming the first field where the folder's training config differs.
    A field the saved config lacks (written before the field existed) counts as its default."""
    diff = config_difference(folder, config, defaults)
    if diff:
        raise RunFolderError(f"cannot resume {folder}: {diff}")


def config_difference(folder: Path, config: dict, defaults: dict | None = None) -> str | None:
    """The first field where the folder's training config differs from `config`, as text ("it
    was made with seed=0, this config has seed=5"), or None (see `check_same_config`)."""
    saved = _steps_run((defaults or {}) | read_config(folder)["config"])
    diff = [k for k in config if k != "preset" and saved.get(k) != config[k]]
    if not diff:
        return None
    k = diff[0]
    return f"it was made with {k}={saved.get(k)!r}, this config has {k}={config[k]!r}"


def _steps_run(config: dict) -> dict:
    """A training config with `total_steps` as the steps that ran: whole updates of num_envs *
    num_steps. (Configs written before mesaworld rounded the budget recorded the request, e.g.
    20000 for a run of 4 updates of 4096 = 16384 steps.)"""
    steps, envs, per_env = (config.get(k) for k in ("total_steps", "num_envs", "num_steps"))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (steps, envs, per_env)):
        return config
    batch = envs * per_env
    return (config | {"total_steps": steps // batch * batch}) if batch > 0 else config
