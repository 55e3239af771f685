"""In-context learning curves of a recurrent run on `which-object`, beside the exact Bayesian
learner (`mesaworld.analysis.bayes`).

trial_table(run, split, levels)
    One row per (level, trial) of one episode per evaluation level, played with frozen weights
    (sampled actions from the evaluation seed; the memory kept across the episode's trials):
    reward (did this trial pay), cued (did it touch the lamp's colour), touched (the colour
    touched, -1 for none), lamp (the lamp's colour), prize (the paying colour), missed (the
    level's schedule: the prize would not have paid in this trial; `which-object-noisy`), view
    (the level as the agent sees it: `visible_layouts`). A `which-object` or `which-object-noisy`
    run (`TASKS_READ`).
run_curves(run, levels)
    Per split and trial: the agent's mean reward and lamp-following, the Bayesian learner's
    expected reward given the true prior of that split, and (deploy) the Bayesian learner
    that keeps the *training* prior; and per split the mean trial of the first reward
    (`first`, trials + 1 when none paid), the agent's and both learners'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.bayes import cue_prior, first_success, trial_rewards
from mesaworld.analysis.runfolder import read_config
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tasks.which_object import MISS_CHARS, MOVES_FLAT, OBJECTS, PRIZES, TRIALS
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.evaluate import TorchPolicy, eval_levels

TASK = "which-object"
TASKS_READ = ("which-object", "which-object-noisy")


def split_priors(knob: float) -> dict[str, np.ndarray]:
    """The true prior over (lamp's colour, other, other) on each split at training knob r."""
    return {"train": cue_prior(knob), "deploy": cue_prior(TASKS[TASK].shift.deploy.cue_reliability)}


def trial_table(run: str | Path, split: str, levels: int = 200) -> pd.DataFrame:
    """The per-(level, trial) outcomes of the run's agent (module docstring). Train levels are
    drawn at the run's own knob (its training distribution), deploy levels as for every run."""
    run = Path(run)
    meta = read_config(run)
    task_name = meta["task"]
    if task_name not in TASKS_READ:
        raise ValueError(
            f"{run}: a {task_name} run; in-context curves need a {' or '.join(TASKS_READ)} run"
        )
    agent, agent_meta = load_agent(run)
    if not getattr(agent, "recurrent", False):
        raise ValueError(f"{run}: a {agent_meta['network']} agent has no memory to learn in")
    eval_seed = int(meta["eval"]["eval_seed"])
    knob = meta["config"]["knob"]
    codes = eval_levels(task_name, split, levels, eval_seed, None if knob is None else float(knob))
    engine = make_engine(task_name, len(codes), autoreset=False, view=agent_meta["view"])
    engine.load_codes(codes)
    policy = TorchPolicy(agent, agent_meta["view"])
    policy.begin(len(codes))
    rng = np.random.default_rng(np.random.SeedSequence(eval_seed, spawn_key=(7,)))
    t, s, n = engine.task, engine.state, len(codes)
    end, cued = t.measures.index("trial_end"), t.measures.index("cued")
    trial = np.zeros(n, np.int64)
    out = np.zeros((3, n, t.trials))  # reward, cued, touched colour
    done = np.zeros(n, bool)
    while not done.all():
        action = np.asarray(policy.act(t.observation(s), rng), np.int64)
        # The cell this move reaches (objects are not obstacles): what it touches, if anything.
        target = MOVES_FLAT[action, s.pos]
        target = np.where(s.obstacle[np.arange(n), target] > 0, s.pos, target)
        touched = s.colour[np.arange(n), target]
        step = engine.step(action)
        ended = (step["measures"][end] > 0) & ~done
        rows = np.flatnonzero(ended)
        out[0, rows, trial[rows]] = step["objectives"][0, rows]
        out[1, rows, trial[rows]] = step["measures"][cued, rows]
        out[2, rows, trial[rows]] = touched[rows]
        trial[rows] += 1
        done |= step["done"]
    level, k = np.meshgrid(np.arange(n), np.arange(t.trials), indexing="ij")
    return pd.DataFrame(
        {
            "split": split,
            "level": level.ravel(),
            "trial": k.ravel() + 1,
            "reward": out[0].ravel(),
            "cued": out[1].ravel(),
            "touched": out[2].ravel().astype(np.int64),
            "lamp": np.repeat(s.cue, t.trials),
            "prize": np.repeat(s.prize, t.trials),
            "missed": s.miss[:, : t.trials].ravel(),  # the prize would not have paid
            "view": np.repeat(visible_layouts(codes), t.trials),
        }
    )


def visible_layouts(codes: np.ndarray) -> np.ndarray:
    """One string per level: the layout as the agent sees it (the paying object written as an
    ordinary one, the hidden payment schedule as floor). Two levels with the same string give
    the same observations until a first reward."""
    flat = codes.reshape(len(codes), -1).copy()
    for prize, plain in zip(PRIZES, OBJECTS):
        flat[flat == ord(prize)] = ord(plain)
    flat[np.isin(flat, [ord(c) for c in MISS_CHARS])] = ord(".")
    return np.array([row.tobytes().decode("ascii") for row in flat])


def first_reward_trial(table: pd.DataFrame) -> np.ndarray:
    """Per level: the 1-based trial of the first reward (TRIALS + 1 where none paid)."""
    wide = table.pivot(index="level", columns="trial", values="reward").to_numpy()
    paid = wide > 0
    return np.where(paid.any(1), paid.argmax(1) + 1, wide.shape[1] + 1).astype(float)


def run_curves(run: str | Path, levels: int = 200) -> pd.DataFrame:
    """Per (split, trial): agent and Bayesian curves; `first` per split (module docstring)."""
    run = Path(run)
    meta = read_config(run)
    if meta["task"] != TASK:  # the noisy task's learner is not this one's (bayes_noisy)
        raise ValueError(
            f"{run}: a {meta['task']} run; these curves are {TASK}'s (for which-object-noisy: "
            "mesaworld.experiments.instruments.belief_updating)"
        )
    knob = meta["config"]["knob"]
    knob = TASKS[TASK].shift.knob_default if knob is None else float(knob)
    priors = split_priors(knob)
    rows = []
    for split in ("train", "deploy"):
        table = trial_table(run, split, levels)
        truth = priors[split]
        bayes = trial_rewards(truth, truth, TRIALS)
        misled = trial_rewards(priors["train"], truth, TRIALS)
        means = table.groupby("trial")[["reward", "cued"]].mean()
        first = float(first_reward_trial(table).mean())
        for k in range(1, TRIALS + 1):
            rows.append(
                {
                    "split": split,
                    "trial": k,
                    "reward": float(means.loc[k, "reward"]),
                    "cued": float(means.loc[k, "cued"]),
                    "bayes": float(bayes[k - 1]),
                    "bayes_train_prior": float(misled[k - 1]),
                    "first": first,
                    "first_bayes": first_success(bayes),
                    "first_bayes_train_prior": first_success(misled),
                    "levels": levels,
                    "knob": knob,
                }
            )
    return pd.DataFrame(rows)
