"""The behavioral objective of trained agents and the reward-result gap, from run folders.

For each run: its deploy evaluation episodes (levels and recorded actions, `eval_deploy.npz`)
are replayed on the exact tabular export of those levels (`mesaworld.envs.tabular`), checked against the
returns the run recorded, and then

* maximum causal entropy IRL (`mesaworld.analysis.irl`, discount DISCOUNT) recovers a linear reward over
  the task's named features (every objective and measure, plus "step" and "stay"), fitted on 4
  of every 5 episodes and scored on the 5th;
* the reward-result gap in returns (`mesaworld.analysis.gap`), the primary measure: the recovered reward's
  own policy scored under the base objective and every proxy; gap/<proxy> = base - proxy score;
* the attribution (`mesaworld.analysis.attribution`): which objectives explain held-out actions beyond a
  habit of standing still, with bootstrap intervals, on deploy and on train episodes;
* EPIC (`mesaworld.analysis.epic`), secondary: the recovered reward's distance to every objective;
* competence on train: the score at the run's own training reward on the train levels;
* the label (`mesaworld.analysis.labels`) from all of that, with the labels it flips to when one
  threshold moves by its step (the one uncertainty rule; `labellers` rebuilds it from the rows).

Levels are taken in evaluation order until the state budget (`max_states`, default 60,000) is
spent; a level whose reachable state space alone exceeds what is left is skipped and counted
(Roomba deploy levels with cans have 5k-175k states each). 60,000 is the budget of every Roomba
result in the README; it holds all 20 levels of every task but the Roomba and the storeroom, and
keeps `mesaworld analyze` on one Roomba run to ~15 s on 2 cores (300,000, the old default: 9
deploy levels, ~50 s, ~270 s before the fast solver). Raise `--max-states` for more Roomba or
storeroom levels (`python benchmarks/irl_speed.py` times both).

Progress goes to stderr (`analyze(quiet=False)`): on a terminal, a status line naming the run and
the stage under way; everywhere, a line per finished run with its time per stage, the time
elapsed and an estimate of the time left. `RunBehavior.seconds` keeps the stage times.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis import analysis_resume as resume
from mesaworld.analysis.analysis_progress import AnalysisProgress, StageClock
from mesaworld.analysis.attribution import FOLDS, nested_attribution
from mesaworld.analysis.behavior_figures import analysis_figures
from mesaworld.analysis.behavior_table import cell_table, format_cells
from mesaworld.analysis.epic import epic_matrix
from mesaworld.analysis.gap import gap_columns, reference_returns, reward_score, score
from mesaworld.analysis.irl import (
    Demos,
    mce_irl,
    one_blas_thread,
    random_log_likelihood,
    split_episodes,
)
from mesaworld.analysis.labels import Evidence, Labeller, judge, label, shown
from mesaworld.analysis.rewards import paid_objectives, reward_weights
from mesaworld.analysis.runfolder import (
    CONFIG,
    EPISODES,
    ci_columns,
    eval_arrays,
    exclusive,
    publish,
    read_episodes,
)
from mesaworld.analysis.runs import RunsError, finished_runs, run_info
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tabular import ExportError, TabularMDP, concat, export


class BehaviorError(RunsError):
    """A run folder that cannot be analysed (the message names the file and the fix)."""


@dataclass(frozen=True)
class BehaviorSettings:
    """What `analyze` fits. levels: the first n evaluation levels of `split` (within the state
    budget `max_states`); per_state: also fit a reward per state (L2-regularized);
    heldout_every: every k-th episode is held out of the IRL fit; train: also analyse the
    train episodes (the attribution there, and the competence that `undertrained` checks);
    seed: the bootstrap's."""

    split: str = "deploy"
    levels: int = 20
    max_states: int = 60_000  # the README's Roomba budget (module docstring)
    per_state: bool = False
    heldout_every: int = 5
    train: bool = True
    seed: int = 0

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
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per stage


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

    def get(self, task: str, split: str, levels: np.ndarray, settings: BehaviorSettings):
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
                    f"{task}: no {split} level fits the state budget "
                    f"(--max-states {settings.max_states})"
                )
            self._store[key] = (concat(parts), np.array(used), skipped)
        return self._store[key]


def _split_demos(run, task, split, settings, cache) -> tuple[TabularMDP, Demos, np.ndarray, int]:
    """(table, demos, levels used, levels skipped) of one split's recorded episodes, replayed
    and checked against the returns the run recorded."""
    levels, actions, episodes = _load_episodes(run, split)
    mdp, used, skipped = (cache or ExportCache()).get(task, split, levels, settings)
    demos = Demos.from_actions(mdp, [(j, actions[i]) for j, i in enumerate(used)])
    _check_replay(run, mdp, demos, episodes, used)
    return mdp, demos, used, skipped


def _gains(prefix: str, mdp: TabularMDP, demos: Demos, seed: int) -> dict[str, float]:
    """Columns <prefix>gain/<k> and <prefix>gain_diff/<proxy>, each with its interval."""
    out = {}
    if demos.n_episodes < FOLDS:  # one level: nothing to hold out, no attribution
        for k in mdp.objectives:
            for m in [f"{prefix}gain/{k}"] + (
                [f"{prefix}gain_diff/{k}"] if k != mdp.objectives[0] else []
            ):
                out[m], out[f"{m}:lo"], out[f"{m}:hi"] = (float("nan"),) * 3
        return out
    gains, diffs = nested_attribution(mdp, demos, seed)
    for kind, table in (("gain", gains), ("gain_diff", diffs)):
        for k, g in table.items():
            m = f"{prefix}{kind}/{k}"
            lo, hi = ci_columns(m)
            out[m], out[lo], out[hi] = g.mean, g.lo, g.hi
    return out


def _train_columns(run, info, settings, cache, clock) -> dict[str, float]:
    """On train levels: the attribution (where base and proxy agree it cannot separate them)
    and the score at the run's own training reward (competence: `undertrained` below
    labels.TRAINED), exact on the table. Nothing for a run evaluated on deploy only."""
    if not (run / eval_arrays("train")).exists():
        return {}
    clock.start("train export")
    mdp, demos, _, _ = _split_demos(run, info["task"], "train", settings, cache)
    clock.start("train attribution")
    out = _gains("train_", mdp, demos, settings.seed)
    w = np.array(reward_weights(info["reward"], mdp.objectives))
    reward = np.tensordot(w, np.stack([mdp.reward(k) for k in mdp.objectives]), 1)
    got = float(reward[demos.state, demos.action].sum())
    out["train_score"] = reward_score(mdp, reward, got, demos.starts)
    return out


@one_blas_thread()
def analyze_run(
    run: Path,
    root: Path,
    settings: BehaviorSettings,
    cache: ExportCache | None = None,
    clock: StageClock | None = None,
) -> RunBehavior:
    """IRL, the gap in returns, EPIC, the attribution (deploy and train) and the label of one
    finished run folder. `clock` times the stages (default: a silent one)."""
    clock = clock or StageClock()
    info = run_info(run, root)
    if info["task"] not in TASKS:
        raise BehaviorError(f"{run / CONFIG}: unknown task {info['task']!r}")
    clock.start("export")
    mdp, demos, used, skipped = _split_demos(run, info["task"], settings.split, settings, cache)
    clock.start("IRL")
    fit_eps, held_eps = split_episodes(demos, settings.heldout_every)
    irl = mce_irl(
        mdp,
        demos.subset(fit_eps, mdp),
        heldout=demos.subset(held_eps, mdp),
        per_state=settings.per_state,
    )
    rewards = {"recovered": irl.reward} | {k: mdp.reward(k) for k in mdp.objectives}
    clock.start("EPIC")
    epic = epic_matrix(mdp, rewards)
    clock.start("gap")
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
    refs = reference_returns(mdp, demos.starts)  # computed once: the agent's and the gap's
    row.update(_scores(mdp, demos, refs))
    row.update(gap_columns(mdp, irl.reward, demos.starts, refs))
    clock.start("attribution")
    row.update(_gains("", mdp, demos, settings.seed))
    if settings.train and settings.split == "deploy":
        row.update(_train_columns(run, info, settings, cache, clock))
    clock.start(None)
    here, flips = judge(evidence(row, mdp.objectives))
    row.update(label=here, flips=" / ".join(flips), shown=shown(here, flips))
    return RunBehavior(row, mdp, irl.reward, used, clock.seconds)


def evidence(row: dict | pd.Series, objectives: tuple[str, ...] | list[str]) -> Evidence:
    """The label evidence of an analysed run: the agent's own deploy scores, the reward-result
    gap in returns (`gap/<proxy>`: the behavioral objective's policy), and, for trained agents,
    the train score at its training reward."""
    scores = {k: float(row[f"score/{k}"]) for k in objectives}
    gaps = {k: float(row[f"gap/{k}"]) for k in objectives[1:]}
    train = None
    if row["role"] == "trained":
        train = float(row.get("train_score", float("nan")))
    # The behaviour tie-breaker: the proxy's held-out gain over the base's, where its interval
    # is clear of 0; `label` compares it with GAIN_PURSUED, so the threshold can be moved.
    leaning = {
        k: -float(row.get(f"gain_diff/{k}", 0.0))
        if float(row.get(f"gain_diff/{k}:hi", 0.0)) < 0
        else float("nan")
        for k in gaps
    }
    return Evidence(
        scores,
        gaps,
        train,
        paid_objectives(str(row["reward"])),
        leaning=leaning,
        lean_by="gain_pursued",
    )


def labellers(rows: pd.DataFrame) -> dict[str, Labeller]:
    """run -> its labeller (thresholds as keywords, `mesaworld.analysis.labels.judged`) from
    analysed rows (behavioral.csv), for the labels' sensitivity."""
    out = {}
    for _, row in rows.iterrows():
        objectives = list(TASKS[row["task"]].objectives)
        out[str(row["run"])] = partial(label, evidence(row, objectives))
    return out


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
    progress = None if quiet else AnalysisProgress(len(runs), settings)
    try:
        results = [_one(run, root, settings, cache, progress, out) for run in runs]
        if progress:
            progress.status("figures and tables ...")
        rows = pd.DataFrame([r.row for r in results])
        cells = cell_table(rows)
        # Everything is made in a staging folder first, then published as one step with
        # behavioral.csv last: a kill leaves the previous analysis or an incomplete one, never a
        # mix. The folder is locked only now that the work has succeeded (a failed analysis
        # leaves no folder behind), so two analyses never publish into one folder at once.
        with exclusive(out, "analyze"):
            files = analysis_figures(out, cells, results)
            files["attribution.csv"] = cells.to_csv(index=False).encode()
            files["settings.json"] = (json.dumps(asdict(settings), indent=2) + "\n").encode()
            files["behavioral.csv"] = rows.to_csv(index=False).encode()
            publish(out, files, last="behavioral.csv")
        resume.clear(out)
    finally:
        if progress:
            progress.clear()  # a status line left on a terminal would prefix an error
    written = [out / "behavioral.csv", out / "attribution.csv"]
    written += [out / name for name in files if name.endswith((".png", ".pdf"))]
    if not quiet:
        print(format_cells(cells))
    return rows, cells, written


def _one(run, root, settings, cache, progress, out) -> RunBehavior:
    """One run's analysis, with its progress lines (and its stdout line) unless quiet; a run
    analysed before a kill is taken from `<out>/.runs` (`analysis_resume`)."""
    key = resume.digest(run, root, settings)
    clock = progress and progress.begin(run)
    if saved := resume.load(out, key):
        mdp = _split_demos(run, saved[0]["task"], settings.split, settings, cache)[0]
        result = RunBehavior(saved[0], mdp, *saved[1:])
    else:
        result = analyze_run(run, root, settings, cache, clock)
        resume.save(out, key, result.row, result.recovered, result.used_levels, result.seconds)
    if progress:
        progress.end(result.seconds)
        r = result.row
        skip = f" ({r['levels_skipped']} over the state budget)" if r["levels_skipped"] else ""
        print(
            f"{r['run']}: {r['levels']} levels{skip}, {r['states']:,} states, IRL "
            f"{r['irl_seconds']:.1f} s; {r['shown']}{' (resumed)' if saved else ''}",
            flush=True,
        )
    return result
