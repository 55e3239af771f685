"""Belief updating or elimination? The in-context learner of `which-object-noisy`, measured
against the exact Bayesian learner and the elimination heuristic (`mesaworld.analysis.bayes_noisy`).

On `which-object-noisy` the prize pays only half the time, so a miss does not rule it out: the
Bayesian learner whose prior trusts the lamp returns to the lamp's colour after a miss there,
elimination never does. `run_rows(run, levels)` plays one episode per evaluation level of each
split with frozen weights (`in_context.trial_table`) and returns one row per (split, measure,
index) with the agent's value, its count of episodes, and the three references:

    measure   index   agent                                     references (exact)
    reward    trial   P(payment in the trial)                   bayes, bayes_train, elimination
    total     -       payments per episode (of 8 trials)        same
    first     -       mean trial of the first payment (T+1: none)  same
    follow    -       P(trial 1 touches the lamp's colour)      same
    persist   k       P(the lamp's colour again in trial k + 1 | trials 1..k all touched it and
                      none paid): the number that tells belief updating from elimination
    stay      -       P(the same object in trial t + 1 | trial t paid), over t (both learners: 1)

The `_levels` columns (reward, total, first) are the same three learners' exact expectations on
exactly the levels the agent played (each level's prize and payment schedule; ties averaged), so
that agent and references share one sample of levels; the other columns are their expectations
over the split's distribution. `bayes` is the Bayesian learner given the split's true prior, `bayes_train` the one that keeps
the run's training prior (at train levels the same), `elimination` the heuristic ordered by the
training prior (the lamp first when it is informative). `persist` and `follow` depend only on
what the learner believes, so the references there are the training prior's. Split "both" pools
the two splits' episodes for `persist`: before its first payment an agent sees the same
observations on train and deploy levels (the lamp's colour is uniform in both; only whether it
is the prize differs, and that is hidden), so pooling only adds episodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.bayes import cue_prior
from mesaworld.analysis.bayes_noisy import curves, first_trial, level_curves, persistence
from mesaworld.analysis.runfolder import read_config
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tasks.which_object_noisy import PAYOFF, TRIALS
from mesaworld.experiments.instruments.in_context import trial_table

TASK = "which-object-noisy"
REFS = ("bayes", "bayes_train", "elimination")
PERSIST_K = (1, 2, 3, 4, 5)


def _wide(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(touched int[levels, trials], paid bool[levels, trials], lamp int[levels])."""
    touched = table.pivot(index="level", columns="trial", values="touched").to_numpy()
    paid = table.pivot(index="level", columns="trial", values="reward").to_numpy() > 0
    lamp = table.groupby("level")["lamp"].first().to_numpy()
    return touched, paid, lamp


def persist_counts(table: pd.DataFrame, k: int) -> tuple[int, int]:
    """(episodes whose trials 1..k all touched the lamp's colour and none paid, of which
    trial k + 1 touched it again)."""
    touched, paid, lamp = _wide(table)
    on_lamp = touched[:, :k] == lamp[:, None]
    cond = on_lamp.all(1) & ~paid[:, :k].any(1)
    return int(cond.sum()), int((touched[cond, k] == lamp[cond]).sum())


def stay_counts(table: pd.DataFrame) -> tuple[int, int]:
    """(trials t < T that paid, of which trial t + 1 touched the same object)."""
    touched, paid, _ = _wide(table)
    before = paid[:, :-1]
    return int(before.sum()), int((touched[:, 1:] == touched[:, :-1])[before].sum())


def on_levels(table: pd.DataFrame, knob: float, split: str) -> dict[str, dict]:
    """The three learners' exact expected `reward` per trial, `total` and `first` payment on
    exactly the levels of `table` (each level's prize and schedule; ties averaged), so that
    the agent and the references share one sample of levels."""
    train, truth = cue_prior(knob), cue_prior(knob if split == "train" else 0.0)
    per_level = table.groupby("level").agg(
        lamp=("lamp", "first"), prize=("prize", "first"), missed=("missed", list)
    )
    out = {}
    for name, belief, kind in (
        ("bayes", truth, "bayes"),
        ("bayes_train", train, "bayes"),
        ("elimination", train, "elimination"),
    ):
        rewards, firsts = [], []
        for lamp, prize, missed in per_level.itertuples(index=False):
            others = sorted({0, 1, 2} - {lamp})
            option = 0 if prize == lamp else 1 + others.index(prize)
            c = level_curves(belief, option, np.array(missed, bool), PAYOFF, kind)
            rewards.append(c["reward"])
            firsts.append(first_trial(c["first"]))
        reward = np.mean(rewards, 0)
        out[f"{name}_levels"] = {"reward": reward, "total": reward.sum(), "first": np.mean(firsts)}
    return out


def references(knob: float, split: str) -> dict[str, dict]:
    """The three learners' exact curves and numbers on `split` for training lamp `knob`."""
    train, truth = cue_prior(knob), cue_prior(knob if split == "train" else 0.0)
    out = {}
    for name, belief, kind in (
        ("bayes", truth, "bayes"),
        ("bayes_train", train, "bayes"),
        ("elimination", train, "elimination"),
    ):
        c = curves(belief, truth, TRIALS, PAYOFF, kind)
        picks = persistence(belief, TRIALS, PAYOFF, kind)
        first_pick = 1.0 if kind == "bayes" and belief[0] > belief[1] + 1e-9 else None
        if first_pick is None:  # ties split uniformly; elimination: the lamp first if favoured
            best = belief.max()
            ties = np.flatnonzero(belief >= best - 1e-9)
            first_pick = float(0 in ties) / len(ties)
        out[name] = {"reward": c["reward"], "total": c["reward"].sum(),
                     "first": first_trial(c["first"]), "persist": picks, "follow": first_pick}  # fmt: skip
    return out


def _row(split, measure, index, agent, n, refs, key=None) -> dict:
    rec = {"split": split, "measure": measure, "index": index, "agent": agent, "n": n}
    for name, r in refs.items():
        v = r.get(measure, np.nan) if key is None else r[measure][key]
        rec[name] = float(v)
    return rec


def run_rows(run: str | Path, levels: int = 400) -> pd.DataFrame:
    """The run's rows (module docstring); `knob`, `levels` and the training `steps` on every
    row."""
    run = Path(run)
    meta = read_config(run)
    if meta["task"] != TASK:
        raise ValueError(f"{run}: a {meta['task']} run; belief updating is read on {TASK} runs")
    knob = meta["config"]["knob"]
    knob = TASKS[TASK].shift.knob_default if knob is None else float(knob)
    rows, tables = [], {}
    for split in ("train", "deploy"):
        table = tables[split] = trial_table(run, split, levels)
        refs = references(knob, split) | on_levels(table, knob, split)
        touched, paid, lamp = _wide(table)
        for t in range(1, TRIALS + 1):
            rows.append(_row(split, "reward", t, paid[:, t - 1].mean(), len(paid), refs, t - 1))
        rows.append(_row(split, "total", 0, paid.sum(1).mean(), len(paid), refs))
        first = np.where(paid.any(1), paid.argmax(1) + 1, TRIALS + 1).mean()
        rows.append(_row(split, "first", 0, first, len(paid), refs))
        rows.append(_row(split, "follow", 0, (touched[:, 0] == lamp).mean(), len(paid), refs))
        n, again = stay_counts(table)
        stay = {k: {"stay": 1.0 if k in REFS else np.nan} for k in refs}
        rows.append(_row(split, "stay", 0, again / n if n else np.nan, n, stay))
    refs = references(knob, "train") | {f"{k}_levels": {} for k in REFS}
    for k in PERSIST_K:
        for split, parts in (("train", ["train"]), ("deploy", ["deploy"]), ("both", None)):
            counts = [persist_counts(tables[s], k) for s in (parts or ["train", "deploy"])]
            n, again = sum(c[0] for c in counts), sum(c[1] for c in counts)
            persist = {
                name: {"persist": r.get("persist", [np.nan] * k)} for name, r in refs.items()
            }
            rows.append(_row(split, "persist", k, again / n if n else np.nan, n, persist, k - 1))
    steps = int(meta["config"]["total_steps"])
    return pd.DataFrame(rows).assign(knob=knob, levels=levels, steps=steps)
