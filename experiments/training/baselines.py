"""Baseline run folders: a task's scripted planners and a random agent, scored on the same
evaluation levels as trained agents, so analysis can place every agent between them.

The planners come from the task's declaration (`TaskSpec.baselines` -> `Anchors`), each with its
role: "aligned" (pursues the base objective), "proxy" (pursues the proxy: the pseudo-aligned
extreme; absent where a task has none); the random agent has the role "random". Their run folders
have the kind "scripted" (the random agent's: "random"; a trained agent's: "ppo").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mesaworld.analysis.runfolder import (
    EPISODES,
    RunFolderError,
    baseline_dir,
    eval_arrays,
    exclusive,
    has_content,
    is_finished,
    read_config,
    run_meta,
    write_config,
)
from mesaworld.envs.registry import get_task
from mesaworld.experiments.training.evaluate import (
    EvalSettings,
    PlannerPolicy,
    RandomPolicy,
    check_eval_size,
    evaluate,
    write_evaluation,
)


def baseline_policies(task: str) -> dict[str, tuple[str, object]]:
    """name -> (role, policy) for a task: its anchors by role, then the random agent."""
    anchors = get_task(task).anchors().by_role()
    out: dict[str, tuple[str, object]] = {
        planner.name: (role, PlannerPolicy(planner)) for role, planner in anchors.items()
    }
    out["random"] = ("random", RandomPolicy())
    return out


def write_baselines(
    task: str, root: str | Path, settings: EvalSettings, *, reuse: bool = True
) -> list[Path]:
    """Evaluate every baseline of `task` into root/baseline_<task>_<name>/, each under its
    folder's lock. With `reuse`, a finished baseline folder with the same evaluation settings is
    kept as it is; an unfinished one (a kill interrupted it) is written again."""
    task = get_task(task).name
    check_eval_size(task, settings)
    root = Path(root)
    folders = []
    for name, (role, policy) in baseline_policies(task).items():
        folder = baseline_dir(root, task, name)
        folders.append(folder)
        with exclusive(folder, "baselines"):
            if has_content(folder) and is_finished(folder):
                if not reuse:
                    raise RunFolderError(f"baseline folder {folder} already exists")
                same = read_config(folder)["eval"] == settings.__dict__
                if same and _has_actions(folder):
                    continue
            meta = run_meta(
                kind="random" if role == "random" else "scripted",
                agent=name,
                role=role,
                task=task,
                knob=None,
                seed=0,
                eval_settings=settings.__dict__,
            )
            (folder / EPISODES).unlink(missing_ok=True)  # unfinished until published again
            write_config(folder, meta)
            rows, arrays = evaluate(policy, task, settings)
            write_evaluation(folder, rows, arrays, settings)
    return folders


def _has_actions(folder: Path) -> bool:
    """Whether the folder's evaluation recorded actions (older evaluations did not)."""
    try:
        with np.load(folder / eval_arrays("deploy")) as data:
            return "actions" in data.files
    except (OSError, ValueError):
        return False
