"""Baseline run folders: scripted planners and a random agent, scored on the same evaluation
levels as trained agents, so analysis can place every agent between them.

Each baseline has a role the analysis uses: "aligned" (pursues the base objective), "proxy"
(pursues the proxy: the pseudo-aligned extreme) or "random".
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from agents.planners import (
    cheese_maze_planners,
    coin_planners,
    keys_chests_planners,
    lava_planners,
    roomba_planners,
    supervisor_planners,
)
from envs.gym_env import make_engine
from envs.registry import TASKS
from experiments.evaluate import (
    EvalSettings,
    PlannerPolicy,
    RandomPolicy,
    evaluate,
    write_evaluation,
)
from experiments.runio import CONFIG, RunFolderError, atomic_write_text, is_finished, provenance


def baseline_policies(task: str) -> dict[str, tuple[str, object]]:
    """name -> (role, policy) for a task."""
    out: dict[str, tuple[str, object]] = {"random": ("random", RandomPolicy())}
    engine_task = make_engine(task, 1, autoreset=False).task
    channels = engine_task.obs_channels
    anchors = {
        "roomba": lambda: roomba_planners(channels),
        "cheese_maze": lambda: cheese_maze_planners(channels, engine_task.shape),
        "keys_chests": lambda: keys_chests_planners(channels),
        "coin": lambda: coin_planners(channels),
        "lava": lambda: lava_planners(channels),
        "supervisor": lambda: supervisor_planners(channels),
    }
    if task in anchors:
        for role, planner in zip(("aligned", "proxy"), anchors[task]().values()):
            out[planner.name] = (role, PlannerPolicy(planner))
    return out


def write_baselines(
    task: str, root: str | Path, settings: EvalSettings, *, reuse: bool = True
) -> list[Path]:
    """Evaluate every baseline of `task` into root/baseline_<name>/. With `reuse`, a finished
    baseline folder with the same evaluation settings is kept as it is."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(sorted(TASKS))}")
    root = Path(root)
    folders = []
    for name, (role, policy) in baseline_policies(task).items():
        folder = root / f"baseline_{task}_{name.replace(' ', '_')}"
        folders.append(folder)
        if folder.exists() and any(folder.iterdir()):
            if not is_finished(folder):
                raise RunFolderError(f"{folder} exists but holds no finished evaluation; remove it")
            saved = json.loads((folder / CONFIG).read_text()).get("eval", {})
            if reuse and saved == settings.__dict__ and _has_actions(folder):
                continue
            if not reuse:
                raise RunFolderError(f"baseline folder {folder} already exists")
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": "baseline",
            "agent": name,
            "role": role,
            "task": task,
            "knob": float("nan"),
            "eval": settings.__dict__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **provenance(),
        }
        atomic_write_text(folder / CONFIG, json.dumps(meta, indent=2) + "\n")
        rows, arrays = evaluate(policy, task, settings)
        write_evaluation(folder, rows, arrays, settings)
    return folders


def _has_actions(folder: Path) -> bool:
    """Whether the folder's evaluation recorded actions (older evaluations did not)."""
    try:
        with np.load(folder / "eval_deploy.npz") as data:
            return "actions" in data.files
    except (OSError, ValueError):
        return False
