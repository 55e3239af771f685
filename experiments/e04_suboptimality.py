"""Experiment 4: suboptimality alignment. The storeroom planner, trained shallow, given more search.

Trains the storeroom's planning agent with K = 3 value-iteration steps (preset
`storeroom-planner`) at several training budgets, and the same agent trained with K = 24
(`storeroom-planner-deep`, the control that meets the cans while it learns), 5 seeds each.
Every run is then evaluated with the *same weights* at each test-time K on its own train and
deploy levels (`mesaworld.experiments.instruments.capability`), and its reward map is read (`mesaworld.experiments.instruments.readout`:
the storeroom cans' value relative to floor dust, z-ratio 1 = "a can is dust", < 0 = below clean
floor). Per cell: mean and 95% t-interval over seeds; per run: the label across capability
(trained K vs the largest K, train levels: "suboptimality alignment (dust_collected)" where the
pattern holds; "uncertain: A / B" where one threshold moved by its step flips it, the one
uncertainty rule of `mesaworld.analysis.labels`). Writes <out>/capability_runs.csv (one file per
run under <out>/capability/ as it goes: run again and only what is missing is done),
capability_cells.csv, labels.csv and suboptimality.png/pdf, and prints the README's table and,
beside it, the labels' sensitivity to every threshold (`mesaworld.analysis.labels.sensitivity`).
The labels rest on 100 evaluation levels per run (--levels); their sensitivity to the number of
levels (20 vs 200) needs every run re-evaluated at both counts and is not printed.

    python -m mesaworld.experiments.e04_suboptimality                   # 5 seeds, ~15 min on 2 cores
    python -m mesaworld.experiments.e04_suboptimality --seeds 2 --budgets 50000 --no-control   # a look
    python -m mesaworld.experiments.e04_suboptimality --from-runs docs/results/e04_capability_runs.csv --out /tmp/e04
                                # the tables, labels and figure again from a capability_runs.csv,
                                # nothing trained or evaluated (how docs/results/ is regenerated)
"""

from __future__ import annotations

import argparse
import itertools
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.labels import (
    SUBOPTIMALITY,
    capability_judge,
    capability_label,
    cell_label,
    sensitivity,
    sensitivity_markdown,
    shown,
)
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns, read_config
from mesaworld.analysis.runs import finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.experiments.e04_figure import (  # draw is re-exported for callers
    DEEP,
    SHALLOW,
    draw,  # noqa: F401
    figure,
    groups_of,
)
from mesaworld.experiments.instruments.capability import (
    add_pai,
    anchor_behaviour,
    capability_evidence,
    capability_rows,
)
from mesaworld.experiments.instruments.readout import readout_run
from mesaworld.experiments.report import check_out_folder, fail, figure_files, finish
from mesaworld.experiments.training.config import ConfigError, parse_value, preset
from mesaworld.experiments.training.evaluate import EvalSettings
from mesaworld.experiments.training.sweep import parallel_map, run_sweep, sweep_configs

TASK = "storeroom"
METRICS = ("score/base", "score/dust_collected", "behaviour", "readout")
TABLES, FIGURE = ("capability_runs", "capability_cells", "labels"), "suboptimality"  # under --out


def _groups(args) -> list[tuple[str, str, int]]:
    """(folder name, preset, budget) of every training group."""
    out = [(f"shallow_{b}", SHALLOW, b) for b in args.budgets]
    if args.control:
        out.append((f"deep_{max(args.budgets)}", DEEP, max(args.budgets)))
    return out


def _per_run(run: Path, root: Path, group: str, steps: list[int], levels: int) -> pd.DataFrame:
    """One run's capability rows with its readout and label (cached beside the runs). A cache
    written before the rows carried the baselines' behaviour gets it added (scripted planners
    on the run's own evaluation levels; the agent is not evaluated again)."""
    cache = root / "capability" / f"{group}__{run.name}.csv"
    if cache.is_file():
        rows = pd.read_csv(cache)
        if "pai" not in rows.columns:
            rows = with_baselines(rows, read_config(run)["eval"]["eval_seed"])
            atomic_write_text(cache, rows.to_csv(index=False))
        return rows
    meta = read_config(run)
    rows = capability_rows(run, steps, levels)
    trained = int(meta["config"]["plan_steps"])
    if trained not in steps:
        rows = pd.concat([rows, capability_rows(run, [trained], levels)], ignore_index=True)
    read = readout_run(run, run.parent, levels)
    rows = rows.assign(
        group=group,
        run=run.name,
        seed=meta["config"]["seed"],
        total_steps=meta["config"]["total_steps"],
        trained_k=trained,
        readout=np.where(
            rows["split"] == "train",
            read["train/ratio/dust_collected"],
            read["deploy/ratio/dust_collected"],
        ),
    )
    rows = _in_order(rows.assign(label=label_runs(rows)["label"].iloc[0]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, rows.to_csv(index=False))
    return rows


BASELINE_COLUMNS = ["behaviour/aligned", "behaviour/proxy", "pai"]


def _in_order(rows: pd.DataFrame) -> pd.DataFrame:
    """The runs table's column order: the baselines' behaviour and the label last, so that rows
    made now and rows of an older cache given the baselines later read the same."""
    tail = [c for c in [*BASELINE_COLUMNS, "label"] if c in rows.columns]
    return rows[[c for c in rows.columns if c not in tail] + tail]


def with_baselines(rows: pd.DataFrame, eval_seed: int) -> pd.DataFrame:
    """`rows` (capability rows of storeroom runs, without the baselines' behaviour) with the
    aligned and proxy baselines' behaviour and the PA index on the same levels: the task's
    scripted planners evaluated with `eval_seed` on as many levels as each row says."""
    frames = []
    for levels, part in rows.groupby("levels", sort=False):
        anchors = anchor_behaviour(TASK, EvalSettings(eval_seed=int(eval_seed), levels=int(levels)))
        part = part.drop(columns=[*anchors.columns, "pai"], errors="ignore")
        frames.append(add_pai(part.join(anchors, on="split")))
    return _in_order(pd.concat(frames).loc[rows.index])


def _evidence(runs: pd.DataFrame) -> dict[tuple[str, str], tuple]:
    """(group, run) -> (evidence at the trained K, evidence at the largest K), train levels."""
    out = {}
    for key, part in runs.groupby(["group", "run"], sort=False):
        trained = int(part["trained_k"].iloc[0])
        out[key] = capability_evidence(part, trained, int(part["budget"].max()))
    return out


def label_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run (group, run, seed, label): the label across capability, trained K vs the
    largest K on train levels, as tables print it ("uncertain: A / B" where it flips)."""
    seeds = runs.drop_duplicates(["group", "run"]).set_index(["group", "run"])["seed"]
    rows = [
        {"group": g, "run": r, "seed": seeds.loc[(g, r)], "label": shown(*capability_judge(*ev))}
        for (g, r), ev in _evidence(runs).items()
    ]
    return pd.DataFrame(rows, columns=["group", "run", "seed", "label"])


def label_sensitivity(runs: pd.DataFrame) -> str:
    """What each threshold moved by its step does to the runs' labels and their cells' labels
    (`mesaworld.analysis.labels.sensitivity`), as printed beside the table."""
    labellers = {
        f"{g}/{r}": partial(capability_label, *ev) for (g, r), ev in _evidence(runs).items()
    }
    cells_of = {key: key.split("/", 1)[0] for key in labellers}
    levels = sorted(set(runs["levels"].astype(int)))
    rows = sensitivity(labellers, cells_of, unused=("gain_pursued",))  # no IRL here
    return sensitivity_markdown(rows) + (
        f"\n\n(labels on {', '.join(map(str, levels))} train levels per run; 20 vs 200 levels "
        "needs every run re-evaluated at both counts: not measured)"
    )


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval over seeds per (group, split, test-time K)."""
    out = []
    for key, g in runs.groupby(["group", "split", "budget"], sort=False):
        rec = dict(zip(("group", "split", "budget"), key)) | {"seeds": len(g)}
        for m in METRICS:
            lo, hi = ci_columns(m)
            rec[m] = float(g[m].mean())
            rec[lo], rec[hi] = t_interval(g[m].to_numpy(float))
        out.append(rec)
    return pd.DataFrame(out)


# The possible range of each plotted quantity: a band is clipped to it (a share of cans cannot
# exceed 1 or fall below 0; no score exceeds the oracle's 1). The readout ratio is unbounded.
def _formatter(g: pd.DataFrame):
    def fmt(m: str, k: int) -> str:
        lo, hi = ci_columns(m)
        return f"{g.loc[k, m]:.2f} [{g.loc[k, lo]:.2f}, {g.loc[k, hi]:.2f}]"

    return fmt


def markdown(table: pd.DataFrame, labels: pd.DataFrame, ks: list[int]) -> str:
    """The README's table: per group, train levels, at each K in `ks` that was evaluated."""
    ks = [k for k in ks if k in set(table["budget"])]
    lines = [
        "| trained | steps | readout (can / dust) | "
        + " | ".join(f"K={k}: base score, cans emptied" for k in ks)
        + " | label across capability |",
        "|" + " --- |" * (3 + len(ks) + 1),
    ]
    train = table[table["split"] == "train"]
    for group, g in train.groupby("group", sort=False):
        g = g.set_index("budget")
        fmt = _formatter(g)

        cellk = [
            f"{fmt('score/base', k)}; {100 * g.loc[k, 'behaviour']:.0f}%"
            for k in ks
            if k in g.index
        ]
        lab = cell_label(labels[labels["group"] == group]["label"])
        lines.append(
            f"| {group.split('_')[0]} | {group.split('_')[1]} | {fmt('readout', ks[0])} | "
            + " | ".join(cellk)
            + f" | {lab} |"
        )
    return "\n".join(lines)


def _whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-6


def pair_splits(log: pd.DataFrame, envs: int, column: str = "measure/cans_emptied") -> dict:
    """How many episodes can have ended in each update of a train_log.csv that kept only the
    per-update mean of `column` (docs/results/e04_400k_seed4_train_log.csv), from the rollout's
    shape: an update is `envs` envs x 32 steps and a storeroom episode 64 steps plus the reset
    step, so each pair of updates (2k, 2k+1) ends one episode per env, and a NaN mean is an
    update where none ended. Returns {(2k, 2k+1): [(episodes in 2k, in 2k+1), ...]}: every split
    of the pair's `envs` episodes that makes both updates' sums whole numbers, fewest in the
    first update first; ValueError where none fits (the rule does not hold for this log)."""
    mean = dict(zip(log["update"].astype(int), log[column].astype(float)))
    out = {}
    for u in sorted({u - u % 2 for u in mean}):
        a, b = mean.get(u, np.nan), mean.get(u + 1, np.nan)
        if np.isnan(a) and np.isnan(b):
            fits = [(0, 0)]
        elif np.isnan(a) or np.isnan(b):
            fits = [(0, envs)] if np.isnan(a) else [(envs, 0)]
        else:
            fits = [
                (n, envs - n) for n in range(1, envs) if _whole(n * a) and _whole((envs - n) * b)
            ]
        if not fits:
            raise ValueError(
                f"updates {u} and {u + 1}: no split of {envs} episodes fits their means"
            )
        out[(u, u + 1)] = fits
    return out


def quarter_cans_per_episode(
    log: pd.DataFrame, envs: int, column: str = "measure/cans_emptied"
) -> list[tuple[float, float, float]]:
    """Per quarter of training (the log's updates in 4 equal parts): cans emptied per episode,
    weighted by episodes, as (with the fewest episodes in each pair's first update, the least,
    the most) over every split `pair_splits` allows."""
    mean = dict(zip(log["update"].astype(int), log[column].astype(float)))
    splits = pair_splits(log, envs, column)
    out = []
    for part in np.array_split(log["update"].astype(int).to_numpy(), 4):
        inside = set(part.tolist())
        options = []  # per pair touching the quarter: the distinct (cans, episodes) inside it
        for pair, fits in splits.items():
            if not inside & set(pair):
                continue
            seen = []
            for fit in fits:
                cans = sum(round(n * mean[u]) for u, n in zip(pair, fit) if u in inside and n)
                eps = sum(n for u, n in zip(pair, fit) if u in inside)
                if (cans, eps) not in seen:
                    seen.append((cans, eps))
            options.append(seen)
        ratios = [
            sum(c for c, _ in combo) / sum(e for _, e in combo)
            for combo in itertools.product(*options)
            if sum(e for _, e in combo)
        ]
        if not ratios:
            raise ValueError(f"updates {part.min()}-{part.max()}: no episode ended")
        out.append((ratios[0], min(ratios), max(ratios)))
    return out


def report(out: Path, runs: pd.DataFrame, ks: list[int]) -> None:
    """The tail both paths share: every run labelled again by the current rule, the cells, the
    tables and the figure into `out`, and the printed table with the labels' sensitivity."""
    labels = label_runs(runs)
    runs = runs.drop(columns="label").merge(labels[["group", "run", "label"]], on=["group", "run"])
    table = cells(runs)
    groups = groups_of(table)
    finish(
        out,
        {f"{n}.csv": frame for n, frame in zip(TABLES, (runs, table, labels))},
        lambda: figure(table, out / FIGURE, groups),
        markdown(table, labels, ks) + "\n\n" + label_sensitivity(runs),
    )
    said = labels["label"]
    firm = said.str.startswith(SUBOPTIMALITY).sum()
    first = said.str.startswith(f"uncertain: {SUBOPTIMALITY}").sum()
    named = said.str.contains(SUBOPTIMALITY, regex=False).sum() - firm - first
    print(
        f"\n{SUBOPTIMALITY}: {firm}/{len(labels)} runs under the uncertainty rule; uncertain "
        f"with it as the label as set: {first}; with it as what one moved threshold gives: "
        f"{named}; figure {out / f'{FIGURE}.png'}"
    )


def from_runs(path: Path) -> pd.DataFrame:
    """A capability_runs.csv (docs/results/e04_capability_runs.csv) as `report` takes it: rows
    without the baselines' behaviour get it from the scripted planners on the same levels (the
    e04 presets' evaluation seed); no agent is trained or evaluated."""
    try:
        runs = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ValueError(f"--from-runs: {path}: {e}") from e
    need = {"group", "run", "seed", "split", "budget", "trained_k", "levels", "behaviour"}
    if missing := sorted(need - set(runs.columns)):
        raise ValueError(f"--from-runs: {path} is not a capability_runs.csv (no {missing[0]})")
    if "pai" not in runs.columns:
        seed = preset(SHALLOW, knob=0.0).eval_seed
        print(f"{path}: baselines' behaviour added (eval seed {seed})", file=sys.stderr)
        runs = with_baselines(runs, seed)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds per group (>= 5 for a claim)")
    p.add_argument("--budgets", default="50000,100000,200000", help="training steps, K = 3")
    p.add_argument("--steps", default="1,3,8,16,24,40", help="test-time K values")
    p.add_argument("--levels", type=int, default=100, help="evaluation levels per split")
    p.add_argument("--no-control", dest="control", action="store_false", help="skip K = 24")
    p.add_argument("--workers", type=int, default=2, help="local training processes")
    p.add_argument("--out", default="runs/e04_suboptimality", help="folder of the run folders")
    p.add_argument(
        "--from-runs",
        default=None,
        help="a capability_runs.csv: tables, labels and figure again from it, nothing trained",
    )
    args = p.parse_args(argv)
    if args.from_runs is not None:
        try:
            out = check_out_folder(
                "--out", args.out, files=[f"{n}.csv" for n in TABLES] + figure_files(FIGURE)
            )
            runs = from_runs(Path(args.from_runs))
        except ValueError as e:
            return fail("e04_suboptimality", e)
        report(out, runs, [3, 16, int(runs["budget"].max())])
        return 0
    try:
        args.budgets = [parse_value("budgets", "int", b) for b in args.budgets.split(",")]
        steps = [parse_value("steps", "int", k) for k in args.steps.split(",")]
        if min(steps) < 1 or args.levels < 1:
            raise ConfigError("steps and levels must be positive")
        groups = _groups(args)
        # Every file and folder written under --out, checked now rather than after the training.
        out = check_out_folder(
            "--out",
            args.out,
            files=[f"{n}.csv" for n in TABLES] + figure_files(FIGURE),
            folders=["capability", *(name for name, _, _ in groups)],
        )
        plans = [
            (name, sweep_configs(preset_name, [0.0], args.seeds, args.workers, total_steps=b))
            for name, preset_name, b in groups
        ]
    except (ConfigError, ValueError) as e:
        return fail("e04_suboptimality", e)
    jobs = []
    for name, configs in plans:
        run_sweep(configs, out / name, workers=args.workers, baselines=False, stream=sys.stderr)
        jobs += [(run, out, name, steps, args.levels) for run in finished_runs(out / name)[0]]
    names = [f"capability curve: {job[0].name}" for job in jobs]
    runs = pd.concat(parallel_map(_per_run, jobs, args.workers, names), ignore_index=True)
    report(out, runs, [3, 16, max(steps)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
