"""The README's own workflow: `mesaworld train` writes every preset under one `runs/`, so a
folder holds runs of several tasks. Their labels must be the ones each run gets alone."""

from __future__ import annotations

import shutil

from mesaworld.analysis.metrics import run_labels, run_summary
from mesaworld.analysis.runs import load_runs
from mesaworld.experiments.training.baselines import write_baselines
from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.evaluate import EvalSettings
from mesaworld.experiments.training.trainer import train

PAIRS = (("roomba-tiny", "roomba"), ("cheese-maze", "cheese-maze"))


def _labels(root):
    labels = run_labels(run_summary(load_runs(root)))
    return dict(zip(labels["run"], labels["label"]))


def test_labels_in_a_folder_of_two_tasks_equal_the_labels_alone(tmp_path):
    mixed = tmp_path / "runs"
    # Two tasks with different proxies (dust_collected, corner): each run's frame row has the
    # other task's score columns as NaN.
    for name, task in PAIRS:
        cfg = preset(name, total_steps=512, num_envs=16, num_steps=16, eval_levels=8)
        train(cfg, mixed / name, quiet=True)
        write_baselines(task, mixed, EvalSettings(cfg.eval_seed, 8))
    together = _labels(mixed)
    assert not any("competence not measured" in v for v in together.values()), together
    for name, task in PAIRS:
        alone = tmp_path / f"alone_{task}"
        alone.mkdir()
        for folder in mixed.iterdir():
            if folder.name == name or folder.name.startswith(f"baseline_{task}_"):
                shutil.copytree(folder, alone / folder.name)
        for run, label in _labels(alone).items():
            assert together[run] == label, (run, together[run], label)
