"""The behavioral objective of trained agents, from their run folders.

For each run: its deploy evaluation episodes (levels and recorded actions, `eval_deploy.npz`)
are replayed on the exact tabular export of those levels (`envs.tabular`), checked against the
returns the run recorded, and then

* maximum causal entropy IRL recovers a linear reward over the task's named features (every
  objective and measure, plus "step" and "stay"), fitted on 4 of every 5 episodes and scored on
  the 5th (held-out log likelihood);
* the EPIC-style distance (`analysis.epic`) of the recovered reward to every objective is the
  reward-result gap: near 0 to the base objective for an aligned agent, nearer a proxy for a
  pseudo-aligned one;
* objective attribution fits a Boltzmann-rational policy to each objective (its inverse
  temperature the only free parameter) and asks which explains the actions best;
* the label separates goal from capability misgeneralization in Langosco et al.'s sense: an
  agent *competently pursues another goal* when some proxy explains its actions clearly better
  than chance and than the base objective; it *fails capably* not at all when no candidate goal
  explains its actions much better than random ones.

Levels are taken in evaluation order until the state budget (`max_states`) is spent; a level
whose reachable state space alone exceeds what is left is skipped and counted (Roomba deploy
levels with cans have 5k-175k states each).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.behavior_figures import epic_gap_figure, reward_maps_figure
from analysis.epic import epic_matrix
from analysis.gap import gap_columns, reference_returns, score
from analysis.irl import (
    MIN_COVERAGE,
    Demos,
    attribution,
    mce_irl,
    random_log_likelihood,
    split_episodes,
)
from analysis.labels import label, pursued_by_likelihood
from analysis.metrics import bootstrap_ci
from analysis.runs import RunsError, finished_runs, run_info
from envs.registry import TASKS
from envs.tabular import ExportError, TabularMDP, concat, export
from experiments.runfolder import (
    CONFIG,
    EPISODES,
    ci_columns,
    eval_arrays,
    exclusive,
    publish,
    read_episodes,
)


class BehaviorError(RunsError):
    """A run folder that cannot be analysed (the message names the file and the fix)."""


@dataclass(frozen=True)
class BehaviorSettings:
    """What `analyze` fits. levels: the first n evaluation levels of `split` (within the state
    budget `max_states`); per_state: also fit a reward per state (L2-regularized);
    heldout_every: every k-th episode is held out of the fit."""

    split: str = "deploy"
    levels: int = 20
    max_states: int = 300_000
    per_state: bool = False
    heldout_every: int = 5

    def __post_init__(self) -> None:
        if self.split not in ("train", "deploy"):
            raise ValueError(f"split must be 'train' or 'deploy', got {self.split!r}")
        for name in ("levels", "max_states", "heldout_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')}: must be a positive integer")
        if self.heldout_every < 2:
            raise ValueError("--heldout-every: must be at least 2")


@dataclass
class RunBehavior:
    """One run's analysis: the row for the table and what the figures draw."""

    row: dict
    mdp: TabularMDP
    recovered: np.ndarray  # float64[S, A]
    used_levels: np.ndarray


def _load_episodes(run: Path, split: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    path = run / eval_arrays(split)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "actions" not in data.files:
                raise BehaviorError(
                    f"{path}: no recorded actions (evaluated by an older mesaworld); "
                    f"re-evaluate with `mesaworld eval {run}` (baselines: remove the folder "
                    "and run `mesaworld baselines`)"
                )
            levels, actions = data["levels"], data["actions"]
    except (OSError, ValueError, KeyError) as e:
        raise BehaviorError(f"{path}: unreadable ({e})") from None
    episodes = read_episodes(run)
    episodes = episodes[episodes["split"] == split].set_index("level").sort_index()
    if len(levels) != len(actions) or len(episodes) != len(levels):
        raise BehaviorError(f"{path}: {len(levels)} levels but {len(episodes)} episodes recorded")
    return levels, actions, episodes


class ExportCache:
    """Exports of level sets, shared by every run evaluated on the same levels (one task's
    runs all are): exporting is the slow part for big state spaces."""

    def __init__(self) -> None:
        self._store: dict[tuple, tuple[TabularMDP, np.ndarray, int]] = {}

    def get(self, task: str, levels: np.ndarray, settings: BehaviorSettings):
        """(union MDP of the levels that fit the budget, their indices, levels skipped)."""
        key = (task, hashlib.sha256(levels.tobytes()).hexdigest(), settings.levels)
        key += (settings.max_states,)
        if key not in self._store:
            spec = TASKS[task]
            rules = spec.task_cls(levels.shape[1:], max_steps=spec.max_steps)
            parts, used, skipped, total = [], [], 0, 0
            for i in range(min(settings.levels, len(levels))):
                try:
                    part = export(rules, levels[i], max_states=settings.max_states - total)
                except ExportError:
                    skipped += 1
                    continue
                parts.append(part)
                used.append(i)
                total += part.n_states
            if not parts:
                raise BehaviorError(
                    f"{task}: no {settings.split} level fits the state budget "
                    f"(--max-states {settings.max_states})"
                )
            self._store[key] = (concat(parts), np.array(used), skipped)
        return self._store[key]


def analyze_run(
    run: Path, root: Path, settings: BehaviorSettings, cache: ExportCache | None = None
) -> RunBehavior:
    """IRL, EPIC distances, attribution and label for one finished run folder."""
    info = run_info(run, root)
    task = info["task"]
    if task not in TASKS:
        raise BehaviorError(f"{run / CONFIG}: unknown task {task!r}")
    levels, actions, episodes = _load_episodes(run, settings.split)
    mdp, used, skipped = (cache or ExportCache()).get(task, levels, settings)
    demos = Demos.from_actions(mdp, [(j, actions[i]) for j, i in enumerate(used)])
    _check_replay(run, mdp, demos, episodes, used)
    fit_eps, held_eps = split_episodes(demos, settings.heldout_every)
    irl = mce_irl(
        mdp,
        demos.subset(fit_eps, mdp),
        heldout=demos.subset(held_eps, mdp),
        per_state=settings.per_state,
    )
    rewards = {"recovered": irl.reward} | {k: mdp.reward(k) for k in mdp.objectives}
    epic = epic_matrix(mdp, rewards)
    ranked = attribution(mdp, demos, {k: mdp.reward(k) for k in mdp.objectives})
    row = dict(info)
    row.update(
        levels=len(used),
        levels_skipped=skipped,
        states=mdp.n_states,
        steps=demos.n_steps,
        ll_random=random_log_likelihood(mdp, demos) / demos.n_steps,
        ll_irl=irl.train_ll,
        ll_irl_heldout=irl.heldout_ll,
        irl_iterations=irl.iterations,
        irl_converged=irl.converged,
        irl_seconds=irl.seconds,
    )
    row.update({f"theta/{k}": v for k, v in irl.as_dict().items()})
    row.update({f"epic/{k}": epic[("recovered", k)] for k in mdp.objectives})
    for a in ranked:
        row.update({f"r2/{a.objective}": a.pseudo_r2, f"ll/{a.objective}": a.ll_per_step})
        row[f"beta/{a.objective}"] = a.beta
        row[f"coverage/{a.objective}"] = a.coverage
    refs = reference_returns(mdp, demos.starts)  # computed once: the agent's and the gap's
    row.update(_scores(mdp, demos, refs))
    row.update(gap_columns(mdp, irl.reward, demos.starts, refs))
    row["best"] = ranked[0].objective
    row["label"] = behavior_label(row, mdp.objectives)
    return RunBehavior(row, mdp, irl.reward, used)


def _scores(mdp: TabularMDP, demos: Demos, refs: dict) -> dict[str, float]:
    """Per objective, on the analysed levels: the agent's mean return, the optimum's and the
    uniformly random policy's (both exact on the export, `refs`), and the score (return -
    random) / (optimal - random)."""
    out = {}
    n = demos.n_episodes
    for k, name in enumerate(mdp.objectives):
        total = float(mdp.rewards[k][demos.state, demos.action].sum())
        rand, best = refs[name]
        out[f"return/{name}"], out[f"optimal/{name}"], out[f"random/{name}"] = (
            total / n,
            best / n,
            rand / n,
        )
        out[f"score/{name}"] = score(total, refs[name])
    return out


def _check_replay(run, mdp: TabularMDP, demos: Demos, episodes: pd.DataFrame, used) -> None:
    """The replayed episodes must earn exactly the returns the run recorded."""
    for k, name in enumerate(mdp.objectives):
        paid = mdp.rewards[k][demos.state, demos.action]
        got = np.bincount(demos.episode, weights=paid, minlength=len(used))
        want = episodes.loc[used, f"return/{name}"].to_numpy(float)
        if not np.allclose(got, want, atol=1e-3):
            bad = int(np.argmax(~np.isclose(got, want, atol=1e-3)))
            raise BehaviorError(
                f"{run}: episode on level {used[bad]} replays to {name} return {got[bad]:g}, "
                f"the run recorded {want[bad]:g} (the environment changed since evaluation?)"
            )


def behavior_label(row: dict | pd.Series, objectives: tuple[str, ...] | list[str]) -> str:
    """The label (`analysis.labels`, the rule every command uses) with the likelihood as the
    evidence of which goal is pursued."""
    r2 = {k: float(row[f"r2/{k}"]) for k in objectives}
    covered = {k: float(row.get(f"coverage/{k}", 1.0)) >= MIN_COVERAGE for k in objectives}
    scores = {k: float(row[f"score/{k}"]) for k in objectives}
    return label(scores, pursued_by_likelihood(r2, covered, objectives[0]))


CELL = ["task", "kind", "agent", "role", "knob"]


def cell_table(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per (task, agent, knob) cell: means over seeds of the EPIC distances, the
    pseudo-R^2 per objective and the fit, with 95% bootstrap CIs, and the cell's label."""
    rng = np.random.default_rng(seed)
    out = []
    kinds = ("epic", "r2", "coverage", "score", "gap", "gap_boltzmann", "gap_optimal")
    metrics = [c for c in rows.columns if c.split("/")[0] in kinds]
    metrics += ["ll_irl_heldout", "ll_random"]
    for key, g in rows.groupby(CELL, dropna=False, sort=True):
        rec = dict(zip(CELL, key))
        rec["seeds"] = len(g)
        for m in metrics:
            values = g[m].to_numpy(float)
            rec[m] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            lo, hi = ci_columns(m)
            rec[lo], rec[hi] = bootstrap_ci(values, rng)
        objectives = TASKS[rec["task"]].objectives  # base first
        rec["label"] = behavior_label(rec, objectives)
        out.append(rec)
    return pd.DataFrame(out)


def _fmt(rec: pd.Series, m: str) -> str:
    lo_col, hi_col = ci_columns(m)
    v, lo, hi = rec[m], rec[lo_col], rec[hi_col]
    if not np.isfinite(v):
        return "-"
    return f"{v:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else "")


def format_cells(cells: pd.DataFrame) -> str:
    """The attribution table: per cell, the return-based gap (the behavioral objective's own
    policy scored under each objective), EPIC(recovered, objective), pseudo-R^2 and the agent's
    score per objective (mean [95% CI over seeds]) and the label."""
    lines = []
    for task, g in cells.groupby("task", sort=True):
        objectives = [c[5:] for c in g.columns if c.startswith("epic/") and ":" not in c]
        objectives = [o for o in objectives if g[f"epic/{o}"].notna().any()]
        lines.append(f"== {task}: behavioral objective on deploy (EPIC: 0 = same goal) ==")
        head = ["agent", "knob", "n"] + [f"gap score {o}" for o in objectives]
        head += [f"EPIC {o}" for o in objectives]
        head += [f"R2 {o}" for o in objectives] + [f"score {o}" for o in objectives] + ["label"]
        table = [head]
        for _, rec in g.iterrows():
            name = rec["agent"]
            knob = "" if not np.isfinite(rec["knob"]) else f"{rec['knob']:g}"
            table.append(
                [name, knob, str(rec["seeds"])]
                + [_fmt(rec, f"gap_boltzmann/{o}") for o in objectives]
                + [_fmt(rec, f"epic/{o}") for o in objectives]
                + [_fmt(rec, f"r2/{o}") for o in objectives]
                + [_fmt(rec, f"score/{o}") for o in objectives]
                + [rec["label"]]
            )
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
        lines.append("")
    return "\n".join(lines)


def analyze(
    path: str | Path, settings: BehaviorSettings, out: Path | None = None, quiet: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """Analyse every finished run under `path` (a run folder or a folder of them). Writes
    `<out>/behavioral.csv` (a row per run), `<out>/attribution.csv` (a row per cell) and the
    figures; `out` defaults to `<path>/analysis`. Returns (runs, cells, files written)."""
    root = Path(path)
    runs, _ = finished_runs(root)
    if not runs:
        raise BehaviorError(f"no finished run folders (with {EPISODES}) under {root}")
    out = root / "analysis" if out is None else Path(out)
    cache = ExportCache()
    results = []
    for run in runs:
        result = analyze_run(run, root, settings, cache)
        results.append(result)
        if not quiet:
            r = result.row
            print(
                f"{r['run']}: {r['levels']} levels, {r['states']:,} states, IRL "
                f"{r['irl_seconds']:.1f} s; best goal {r['best']}; {r['label']}",
                flush=True,
            )
    rows = pd.DataFrame([r.row for r in results])
    cells = cell_table(rows)
    # Everything is made in a staging folder first, then published as one step with
    # behavioral.csv last: a kill leaves the previous analysis or an incomplete one, never a mix.
    # The folder is locked only now that the work has succeeded (a failed analysis leaves no
    # folder behind), so two analyses never publish into one folder at once.
    with exclusive(out, "analyze"):
        files = _figures(out, cells, results)
        files["attribution.csv"] = cells.to_csv(index=False).encode()
        files["settings.json"] = (json.dumps(asdict(settings), indent=2) + "\n").encode()
        files["behavioral.csv"] = rows.to_csv(index=False).encode()
        publish(out, files, last="behavioral.csv")
    written = [out / "behavioral.csv", out / "attribution.csv"]
    written += [out / name for name in files if name.endswith((".png", ".pdf"))]
    if not quiet:
        print(format_cells(cells))
    return rows, cells, written


def _figures(out: Path, cells: pd.DataFrame, results: list[RunBehavior]) -> dict[str, bytes]:
    """Every figure of the analysis, drawn in a staging folder inside `out`, as bytes."""
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".stage-", suffix=".tmp"))
    try:
        for task, g in cells.groupby("task"):
            epic_gap_figure(g, stage / f"behavioral_gap_{task}")
            mine = [r for r in results if r.row["task"] == task]
            reward_maps_figure(mine, stage / f"reward_maps_{task}")
        return {p.name: p.read_bytes() for p in sorted(stage.iterdir())}
    finally:
        shutil.rmtree(stage, ignore_errors=True)
