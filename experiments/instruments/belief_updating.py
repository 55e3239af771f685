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
from mesaworld.analysis.bayes_noisy import (
    chooser,
    curves,
    first_trial,
    level_curves,
    persistence,
)
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


CHOICES = ("lamp", "fewer", "more", "none")


def decisions(table: pd.DataFrame) -> pd.DataFrame:
    """Every choice made before the episode's first payment, counted by state and choice: the
    state is (misses on the lamp's colour, on the other colour with fewer misses, on the one with
    more), the choice `lamp`, `fewer`, `more` (the other colours; `fewer` when they tie) or
    `none` (no object touched). `oldest_lamp` (0/1): whether the lamp's colour is the one tried
    longest ago (never tried counts as longest; ties included), where an order-based heuristic
    ("the colour tried longest ago") would go back to it. Columns lamp_misses, fewer, more, trial,
    oldest_lamp, choice, count."""
    touched, paid, lamp = _wide(table)
    counts: dict[tuple, int] = {}
    for row, hit, cue in zip(touched, paid, lamp):
        misses, last = {0: 0, 1: 0, 2: 0}, {0: -1, 1: -1, 2: -1}
        for t, (colour, pay) in enumerate(zip(row, hit)):
            (a, ca), (b, _) = sorted((misses[c], c) for c in (0, 1, 2) if c != cue)
            if colour < 0:
                choice = "none"
            elif colour == cue:
                choice = "lamp"
            else:
                choice = "fewer" if colour == ca or a == b else "more"
            oldest = int(last[cue] == min(last.values()))
            key = (misses[cue], a, b, t + 1, oldest, choice)
            counts[key] = counts.get(key, 0) + 1
            if pay:
                break
            if colour >= 0:
                misses[colour] += 1
                last[colour] = t
    cols = ["lamp_misses", "fewer", "more", "trial", "oldest_lamp", "choice"]
    out = pd.DataFrame([(*k, v) for k, v in counts.items()], columns=[*cols, "count"])
    return out.sort_values(cols, ignore_index=True)


def rule_probs(learner: str, knob: float, state: tuple[int, int, int], trial: int, n_back=0):
    """{choice: probability} of a rule in `state` (lamp misses, fewer, more) at `trial`: the
    Bayesian learner with the training prior (`bayes`), elimination, or the count rule
    (`count`, going back while the lamp's colour has missed at most `n_back` times)."""
    prior, left = cue_prior(knob), TRIALS - trial + 1
    picks = chooser(learner, prior, TRIALS, PAYOFF, n_back)(tuple(state), left)
    names = ["lamp", "fewer", "fewer" if state[1] == state[2] else "more"]
    out = dict.fromkeys(CHOICES, 0.0)
    for i in picks:
        out[names[i]] += 1.0 / len(picks)
    return out


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


def read_run(run: str | Path, levels: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, decisions) of a run: `run_rows`' rows and the pooled `decisions` of both splits
    (deploy levels that look like the same-index train level left out, as for `both`)."""
    run = Path(run)
    meta = read_config(run)
    if meta["task"] != TASK:
        raise ValueError(f"{run}: a {meta['task']} run; belief updating is read on {TASK} runs")
    knob = meta["config"]["knob"]
    knob = TASKS[TASK].shift.knob_default if knob is None else float(knob)
    tables = {split: trial_table(run, split, levels) for split in ("train", "deploy")}
    rows = _rows(tables, knob)
    steps = int(meta["config"]["total_steps"])
    rows = rows.assign(knob=knob, levels=levels, steps=steps)
    pooled = pd.concat([tables["train"], _unique_deploy(tables)], ignore_index=True)
    pooled["level"] = pooled["level"] + np.where(pooled["split"] == "deploy", levels, 0)
    return rows, decisions(pooled).assign(knob=knob)


def _unique_deploy(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The deploy table without the levels that look exactly like the train level of the same
    index: both splits are played with one action stream, so such a pair plays the same
    episode until a first payment, and pooling it would count that episode twice."""
    train = tables["train"].groupby("level")["view"].first()
    deploy = tables["deploy"]
    same = deploy.groupby("level")["view"].first() == train.reindex(deploy["level"].unique())
    return deploy[~deploy["level"].isin(same[same].index)]


def run_rows(run: str | Path, levels: int = 400) -> pd.DataFrame:
    """The run's rows (module docstring); `knob`, `levels` and the training `steps` on every
    row."""
    return read_run(run, levels)[0]


def _rows(tables: dict[str, pd.DataFrame], knob: float) -> pd.DataFrame:
    rows = []
    for split in ("train", "deploy"):
        table = tables[split]
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
    # At deploy the lamp's colour never pays: the share of episodes still on it in trial j, with
    # no selection (persistence after k misses is conditional on having gone back k - 1 times).
    touched, _, lamp = _wide(tables["deploy"])
    on = np.cumprod(touched == lamp[:, None], 1)
    refs = references(knob, "train")
    for j in range(1, TRIALS):
        stayed = {name: {"stayed": np.prod([r["follow"], *r["persist"][: j - 1]])}
                  for name, r in refs.items()}  # fmt: skip
        rows.append(_row("deploy", "stayed", j, on[:, j - 1].mean(), len(on), stayed))
    tables = tables | {"unique deploy": _unique_deploy(tables)}
    refs = refs | {f"{k}_levels": {} for k in REFS}
    for k in PERSIST_K:
        for split, parts in (("train", ["train"]), ("deploy", ["deploy"]), ("both", None)):
            counts = [persist_counts(tables[s], k) for s in (parts or ["train", "unique deploy"])]
            n, again = sum(c[0] for c in counts), sum(c[1] for c in counts)
            persist = {
                name: {"persist": r.get("persist", [np.nan] * k)} for name, r in refs.items()
            }
            rows.append(_row(split, "persist", k, again / n if n else np.nan, n, persist, k - 1))
    return pd.DataFrame(rows)


# --- which rule predicts the agent's choices? ------------------------------------------------
RULES = ("bayes", "count", "elimination")
N_BACK = range(0, 6)  # the count rule's N, fitted per knob


def _allowed(decs: pd.DataFrame, learner: str, knob: float, n_back: int = 0) -> np.ndarray:
    """1 where the agent's choice is one the rule may make in that state (one of its tied best
    choices: where the Bayesian learner is indifferent, every tied choice is Bayes-optimal), else
    0; one value per row of a decisions table."""
    cache: dict[tuple, dict] = {}
    out = np.empty(len(decs))
    cols = ["lamp_misses", "fewer", "more", "trial", "choice"]
    for i, (lm, a, b, trial, choice) in enumerate(decs[cols].itertuples(index=False)):
        key = (lm, a, b, trial)
        if key not in cache:
            cache[key] = rule_probs(learner, knob, (lm, a, b), trial, n_back)
        out[i] = float(cache[key][choice] > 0)
    return out


def fitted_count(decs: pd.DataFrame, knob: float) -> int:
    """The count rule's N that best predicts these choices (fitted on them: its best case)."""
    scores = [(_allowed(decs, "count", knob, n) * decs["count"]).sum() for n in N_BACK]
    return int(np.argmax(scores))


def agreement(decs: pd.DataFrame) -> pd.DataFrame:
    """Per (knob, run, rule): the share of the agent's pre-payment choices the rule allows
    (`_allowed`), `decisions` counted and, for the count rule, its fitted N."""
    rows = []
    for knob, g in decs.groupby("knob"):
        n_back = fitted_count(g, knob)
        for run, r in g.groupby("run"):
            for rule in RULES:
                p = _allowed(r, rule, knob, n_back)
                share = float((p * r["count"]).sum() / r["count"].sum())
                rows.append({"knob": knob, "run": run, "rule": rule, "agreement": share,
                             "decisions": int(r["count"].sum()), "n_back": n_back})  # fmt: skip
    return pd.DataFrame(rows)


def telling_states(decs: pd.DataFrame, min_decisions: int = 20) -> pd.DataFrame:
    """The states where the Bayesian learner and the fitted count rule disagree about going back
    to the lamp's colour (one goes back, the other does not; states where the Bayesian learner is
    indifferent are left out), each with the agents' choices pooled over runs and trials:
    how often they went back (`agent`), the per-run range (runs with >= 10 choices there), the
    rules' probabilities, and the going back split by whether the lamp's colour was the one tried
    longest ago (`agent_oldest`, `agent_not_oldest`, with their choices): a learner that weighs
    the miss counts goes back alike in both; "the colour tried longest ago" only in the first. States with fewer than `min_decisions` choices are left out."""
    rows = []
    for knob, g in decs.groupby("knob"):
        n_back = fitted_count(g, knob)
        for (lm, a, b), s in g.groupby(["lamp_misses", "fewer", "more"]):
            trial = int(s["trial"].min())
            bayes = rule_probs("bayes", knob, (lm, a, b), trial)["lamp"]
            count = rule_probs("count", knob, (lm, a, b), trial, n_back)["lamp"]
            total = int(s["count"].sum())
            if bayes not in (0.0, 1.0) or bayes == count or total < min_decisions:
                continue
            went = s["choice"] == "lamp"
            split = {}  # went back when the lamp's colour was tried longest ago, and otherwise
            for flag, name in ((1, "oldest"), (0, "not_oldest")):
                part = s["oldest_lamp"] == flag
                n = int(s.loc[part, "count"].sum())
                split[f"agent_{name}"] = s.loc[part & went, "count"].sum() / n if n else np.nan
                split[f"decisions_{name}"] = n
            back = s[went].groupby("run")["count"].sum()
            per_run = s.groupby("run")["count"].sum()
            shares = (back.reindex(per_run.index, fill_value=0) / per_run)[per_run >= 10]
            rows.append({"knob": knob, "lamp_misses": lm, "fewer": a, "more": b,
                         "decisions": total, "runs": len(shares),
                         "agent": float(back.sum() / total),
                         "run_min": float(shares.min()) if len(shares) else np.nan,
                         "run_max": float(shares.max()) if len(shares) else np.nan,
                         "bayes": bayes, "count": count, "n_back": n_back} | split)  # fmt: skip
    return pd.DataFrame(rows)
