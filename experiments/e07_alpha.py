"""Experiment 7: which level sampler prevents the wrong goal? Samplers against DR over alpha, the
fraction of distinguishing levels in the pool every sampler draws from (issue 26, item 2).

Per (sampler, alpha, seed): the preset trained on a pool of `--pool-size` levels, exactly
round(alpha x pool size) of them deploy (distinguishing) levels, evaluated on the usual fixed
train and deploy levels. Per (sampler, alpha): deploy base score, proxy behaviour, labels with
counts and their sensitivity, exact regret (oracle optimum - base return) on train and deploy,
the planner's readout where the agent is a planner; 95% t-intervals over seeds. "No Regrets":
per run, the Spearman correlation over played pool levels between each estimate (positive
value loss, MaxMC, learnability) and exact regret, as of each level's latest play ("-" where
either side is constant). The figure: deploy base score against alpha, a line per sampler.

    python -m mesaworld.experiments.e07_alpha --task roomba-long --alphas 0,0.01,0.1 --samplers dr,plr-regret --seeds 5 --total-steps 3e6 --pool-size 10000 --workers 2
    python -m mesaworld.experiments.e07_alpha --report-only --out runs/e07     # tables + figure
    python -m mesaworld.experiments.e07_alpha --report-only --out runs/e07 --copy-to docs/results/sweeps/e07

Each cell is a folder <out>/<preset>/<sampler>/alpha<alpha>/ of runs and baselines (a committed
copy keeps the baselines once, in <out>/<preset>/baselines/). Runs go seed by seed, so a stopped
grid has every cell at the seeds it reached; the same command resumes it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mesaworld.analysis.metrics import gap_table, run_summary, t_interval
from mesaworld.analysis.runs import RunsError, load_runs
from mesaworld.analysis.storage import atomic_write_text, exclusive
from mesaworld.experiments.e02_architectures import _ci, _readout, label_sensitivity, markdown
from mesaworld.experiments.e07_figure import figure, pivot, share_pivot
from mesaworld.experiments.instruments.readout import readout
from mesaworld.experiments.report import check_out_folder, fail
from mesaworld.experiments.training.baselines import write_baselines
from mesaworld.experiments.training.config import ConfigError, parse_value, preset
from mesaworld.experiments.training.evaluate import EvalSettings
from mesaworld.experiments.training.samplers.registry import (
    SAMPLER_LEVELS,
    SAMPLERS,
    pool_origin,
)
from mesaworld.experiments.training.sweep import SweepError, train_runs

ESTIMATES = ("pvl", "maxmc", "learnability")
READOUT_LEVELS = 200  # evaluation levels per split the planner readout reads (its default)


def cell_dir(out: Path, preset_name: str, sampler: str, alpha: float) -> Path:
    return out / preset_name / sampler / f"alpha{alpha:g}"


def run_grid(args, alphas: list[float], samplers: list[str], out: Path) -> None:
    """Train every (seed, alpha, sampler) run not finished yet, seed-major, on `args.workers`
    processes (the sweep's loop: Ctrl-C or SIGTERM ends the workers, a killed parent takes
    them with it, and the same command resumes)."""
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    with exclusive(out, "e07_alpha"):  # a second e07 into the same folder refuses at once
        pairs, first = [], None
        for seed in range(args.first_seed, args.seeds):
            for alpha in alphas:
                for name in samplers:
                    cfg = preset(args.preset, seed=seed, sampler=name, pool_size=args.pool_size,
                                 pool_alpha=alpha, total_steps=args.total_steps)  # fmt: skip
                    root = cell_dir(out, args.preset, name, alpha)
                    if first is None:
                        settings = EvalSettings(cfg.eval_seed, cfg.eval_levels, cfg.eval_greedy)
                        write_baselines(cfg.task, root, settings)
                        first = root
                    if root != first:
                        _copy_baselines(first, root)
                    pairs.append((cfg, cfg.default_run_dir(root)))
        say(f"e07: {len(pairs)} runs under {out} on {args.workers} worker(s)")
        train_runs(pairs, args.workers, say)
        read_planners(list(dict.fromkeys(run.parent for _, run in pairs)), say)


def _copy_baselines(first: Path, root: Path) -> None:
    """The first cell's baselines into `root`, each copied aside and renamed into place (a copy
    cut short is redone, never half used)."""
    root.mkdir(parents=True, exist_ok=True)
    for base in first.glob("baseline_*"):
        there = root / base.name
        if (there / "episodes.csv").is_file():
            continue
        tmp = root / f".{base.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(there, ignore_errors=True)
        shutil.copytree(base, tmp)
        tmp.rename(there)


def read_planners(cells: list[Path], say) -> None:
    """Each planner cell's readout (`mesaworld readout`: the learned reward map read against
    each objective's targets) into <cell>/readout/, redone only when the cell's runs changed;
    cells of other agents are left alone."""
    for cell in cells:
        runs = {r.name for r in cell.glob("*_seed*") if '"planner"' in _agent_json(r)}
        if not runs:
            continue
        done = cell / "readout" / "readout.csv"
        weights = max((cell / r / "agent.pt").stat().st_mtime_ns for r in runs)
        fresh = done.is_file() and done.stat().st_mtime_ns > weights  # read after the weights
        if fresh and set(pd.read_csv(done)["run"]) == runs:
            continue
        rows, table = readout(cell, READOUT_LEVELS)
        done.parent.mkdir(exist_ok=True)
        atomic_write_text(cell / "readout" / "cells.csv", table.to_csv(index=False))
        atomic_write_text(done, rows.to_csv(index=False))
        say(f"readout: {cell} ({len(rows)} runs)")


def _agent_json(run: Path) -> str:
    path = run / "agent.json"
    return path.read_text() if path.is_file() else ""


def _interval(values) -> str:
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return "-"
    lo, hi = t_interval(x)
    return f"{x.mean():.2f}" + ("" if np.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]")


def _cells(out: Path):
    """(preset, sampler, alpha, folder) of every cell folder under `out`."""
    for folder in sorted(out.glob("*/*/alpha*")):
        preset_name, sampler = folder.parent.parent.name, folder.parent.name
        if sampler in SAMPLERS:
            yield preset_name, sampler, float(folder.name.removeprefix("alpha")), folder


def _episodes(out: Path, preset_name: str, folder: Path) -> pd.DataFrame:
    episodes = load_runs(folder)
    shared = out / preset_name / "baselines"  # a committed copy keeps them once
    if not any(folder.glob("baseline_*")) and shared.is_dir():
        episodes = pd.concat([episodes, load_runs(shared)], ignore_index=True)
    return episodes


def sensitivity(out: Path) -> str:
    """The label-sensitivity table of every cell's trained runs (each threshold moved by its
    step; the labels on the first 20 evaluation levels), cells named preset, sampler, alpha."""
    loaded = {folder: _episodes(out, p, folder) for p, _, _, folder in _cells(out)}
    return label_sensitivity(loaded, lambda f: f"{f.parent.parent.name} {f.parent.name} {f.name}")


def _budget(folder: Path) -> str:
    """ "3M steps, pool 10000": a cell's training budget and pool, from its first run's config."""
    config = next(folder.glob("*_seed*/config.json"), None)
    if config is None:
        return ""
    cfg = json.loads(config.read_text()).get("config", {})
    steps, pool = cfg.get("total_steps"), cfg.get("pool_size")
    return f"{steps / 1e6:.3g}M steps, pool {pool}" if steps and pool else ""


def tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alpha table and the "No Regrets" table from the finished runs under `out`. A run
    without its `sampler_levels.csv` (a committed copy leaves the 10,000-row files out) takes
    its row of the "No Regrets" table from `out`/e07_no_regrets.csv, if there."""
    rows, corr = [], []
    kept = out / KEPT_ROWS
    kept = pd.read_csv(kept) if kept.is_file() else None
    for preset_name, sampler, alpha, folder in _cells(out):
        episodes = _episodes(out, preset_name, folder)
        summary = run_summary(episodes)
        trained = summary[summary["role"] == "trained"]
        if trained.empty:
            continue
        table = gap_table(summary, str(folder))
        cell = table[table["role"] == "trained"].set_index("split")
        if not {"train", "deploy"} <= set(cell.index):
            continue
        regret = {
            split: _interval(part["optimal/base"] - part["return/base"])
            for split, part in trained.groupby("split")
        }
        train, deploy = cell.loc["train"], cell.loc["deploy"]
        rows.append({
            "task": deploy["task"], "preset": preset_name, "sampler": sampler, "alpha": alpha,
            "seeds": int(deploy["seeds"]),
            "train base (%)": _ci(train, "norm/base", 100),
            "deploy base (%)": _ci(deploy, "norm/base", 100),
            "deploy score": _ci(deploy, "score/base", 1, 2),
            "proxy behaviour (%)": _ci(deploy, "behaviour", 100),
            "exact regret train": regret.get("train", "-"),
            "exact regret deploy": regret.get("deploy", "-"),
            "label (runs)": deploy["label"],
            "readout ratio": next(iter(_readout(folder).values()), "-"),
            "_score": deploy.get("score/base", np.nan), "_lo": deploy.get("score/base:lo"),
            "_hi": deploy.get("score/base:hi"), "_budget": _budget(folder),
        })  # fmt: skip
        for run in sorted(trained["run"].unique()):
            path = folder / run / SAMPLER_LEVELS
            if not path.is_file():
                corr.append(_kept_row(kept, preset_name, sampler, folder, run))
                continue
            levels = pd.read_csv(path)
            levels = levels[levels["episodes"] > 0]
            out_row = {"preset": preset_name, "sampler": sampler, "alpha": alpha, "run": run}
            for est in ESTIMATES:
                ok = levels[[est, "regret"]].dropna()
                varied = len(ok) > 2 and ok[est].nunique() > 1 and ok["regret"].nunique() > 1
                out_row[est] = ok[est].corr(ok["regret"], method="spearman") if varied else np.nan
            out_row["levels"] = len(levels)
            out_row["regret > 0"] = int((levels["regret"] > 0).sum())
            out_row.update(_shares(folder / run, levels))
            corr.append(out_row)
    return pd.DataFrame(rows), pd.DataFrame(corr)


def _shares(run: Path, levels: pd.DataFrame) -> dict:
    """Where a run's training episodes went: the share on the pool's distinguishing levels and
    on ACCEL's edited children (an edit never moves an object, so a child of a distinguishing
    level still distinguishes, of a train level still does not; counted apart)."""
    cfg = json.loads((run / "config.json").read_text())["config"]
    n, alpha = int(cfg["pool_size"]), float(cfg["pool_alpha"] or 0.0)
    origin = pool_origin(int(cfg["seed"]), n, alpha)
    child = levels["child"].astype(bool) if "child" in levels else levels["level"] >= n  # older
    pool = levels[~child & (levels["level"] < n)]
    total = float(levels["episodes"].sum()) or np.nan
    on = float(pool.loc[origin[pool["level"].to_numpy()], "episodes"].sum())
    edited = float(levels.loc[child, "episodes"].sum())
    return {"distinguishing share": on / total, "edited share": edited / total}


def _kept_row(kept, preset_name: str, sampler: str, folder: Path, run: str) -> dict:
    """A committed copy's "No Regrets" row of one run: matched on preset, sampler, the cell's
    folder name (alpha as written there) and run; a run with no row is an error, not a gap."""
    if kept is not None:
        cell = ("alpha" + kept["alpha"].map(lambda a: f"{a:g}")) == folder.name
        mine = kept[(kept["preset"] == preset_name) & (kept["sampler"] == sampler) & cell]
        mine = mine[mine["run"] == run]
        if len(mine) == 1:
            return mine.iloc[0].to_dict()
    raise ValueError(f"{folder / run}: no {SAMPLER_LEVELS}, no single row in {KEPT_ROWS}")


def no_regrets(corr: pd.DataFrame) -> pd.DataFrame:
    """Per sampler (alphas pooled): mean Spearman [95% t-interval over runs] of each estimate
    with exact regret, and the runs it is over."""
    rows = []
    for (preset_name, sampler), part in corr.groupby(["preset", "sampler"], sort=False):
        row = {"preset": preset_name, "sampler": sampler, "runs": len(part)}
        row["levels per run"] = f"{part['levels'].median():.0f}"
        row["of them regret > 0"] = f"{part['regret > 0'].median():.0f}"
        row.update({f"rho({e}, regret)": _interval(part[e]) for e in ESTIMATES})
        rows.append(row)
    return pd.DataFrame(rows)


def report(out: Path) -> int:
    try:
        table, corr = tables(out)
        labels = sensitivity(out)
    except (RunsError, OSError, ValueError, KeyError) as e:
        return fail("e07_alpha", e)
    if table.empty:
        return fail("e07_alpha", f"no finished trained runs under {out}")
    table = table.sort_values(["preset", "sampler", "alpha"], kind="stable")
    shown = table[[c for c in table.columns if not c.startswith("_")]]
    print(markdown(shown))
    for preset_name in dict.fromkeys(table["preset"]):
        print(f"\n{preset_name}, deploy base (% of the optimum) by sampler and alpha:\n")
        print(markdown(pivot(table, preset_name)))
    atomic_write_text(out / "e07_alpha.csv", shown.to_csv(index=False))
    if not corr.empty:
        print()
        print(markdown(no_regrets(corr)))
        for preset_name in dict.fromkeys(corr["preset"]):
            print(f"\n{preset_name}, % of training episodes on distinguishing levels:\n")
            print(markdown(share_pivot(corr, preset_name)))
        atomic_write_text(out / "e07_no_regrets.csv", corr.to_csv(index=False))
    print()
    print(labels)
    for path in figure(table, out / "figures" / "e07_deploy_vs_alpha"):
        print(f"figure: {path}")
    return 0


COPIED = ("config.json", "episodes.csv", "eval.json")  # what the tables read of a run
KEPT_ROWS = "e07_no_regrets_runs.csv"  # a copy's per-run "No Regrets" rows (never rewritten)


def copy_for_commit(out: Path, dest: Path) -> None:
    """A small copy of a grid for docs/results: per run COPIED (no weights, no sampler_levels.csv:
    the per-run "No Regrets" rows go to dest/KEPT_ROWS, which `report` never writes), readouts,
    baselines once; under the grid's lock, built beside `dest` and renamed into place whole."""
    if dest.exists():
        raise ValueError(f"--copy-to: {dest} exists already (remove it, or pick another folder)")
    with exclusive(out, "e07_alpha"):
        _, corr = tables(out)
        cells = list(_cells(out))
        if not cells or corr.empty:
            raise ValueError(f"--copy-to: no finished sampler runs under {out} to copy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            _copy_cells(out, cells, tmp)
            atomic_write_text(tmp / KEPT_ROWS, corr.to_csv(index=False))
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _copy_cells(out: Path, cells: list, tmp: Path) -> None:
    for preset_name, _, _, folder in cells:
        cell = tmp / folder.relative_to(out)
        cell.mkdir(parents=True, exist_ok=True)
        for run in folder.iterdir():
            if run.name.startswith("baseline_"):
                shared = tmp / preset_name / "baselines" / run.name
                if not shared.exists():
                    shutil.copytree(run, shared)
            elif (run / "episodes.csv").is_file():
                (cell / run.name).mkdir()
                for name in COPIED:
                    shutil.copy2(run / name, cell / run.name / name)
        if (folder / "readout").is_dir():
            shutil.copytree(folder / "readout", cell / "readout")
        shared = out / preset_name / "baselines"  # a committed copy's own shared baselines
        if shared.is_dir() and not (tmp / preset_name / "baselines").exists():
            shutil.copytree(shared, tmp / preset_name / "baselines")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Experiment 7: which level sampler prevents the wrong goal? Level samplers "
        "against DR over alpha, the fraction of distinguishing levels in the pool."
    )
    p.add_argument("--task", default="cheese-maze", help="the preset to train (a task preset)")
    alphas = "comma-separated fractions of distinguishing levels in the pool, each in [0, 1]"
    p.add_argument("--alphas", default="0,0.0001,0.001,0.01,0.1", help=alphas)
    p.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. seeds-1 per cell")
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="train seeds first-seed .. seeds-1 only (add a seed to a grid trained elsewhere)",
    )
    p.add_argument("--total-steps", default="1e6", help="training env-steps per run")
    p.add_argument("--pool-size", type=int, default=1000, help="levels in each seed's pool")
    p.add_argument("--out", default="runs/e07", help="the grid's folder (resumed if it exists)")
    p.add_argument("--report-only", action="store_true", help="tables and figure only")
    p.add_argument(
        "--copy-to",
        metavar="DEST",
        help="with --report-only: a small copy of the grid for committing (no weights), then "
        "the report from it",
    )
    p.add_argument("--workers", type=int, default=1, help="training processes (one core each)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        out = check_out_folder("--out", args.out)
        if args.copy_to and not args.report_only:
            raise ValueError("--copy-to goes with --report-only (copy a finished grid)")
        if args.report_only and args.copy_to:
            dest = check_out_folder("--copy-to", args.copy_to)
            try:
                copy_for_commit(out, dest)
            except (RunsError, OSError) as e:
                return fail("e07_alpha", e)
            return report(dest)
        if args.report_only:
            return report(out)
        args.preset = args.task
        if args.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {args.workers}")
        if not 0 <= args.first_seed < args.seeds:
            raise ValueError(f"--first-seed must be in [0, --seeds), got {args.first_seed}")
        alphas = [parse_value("alphas", "float", a) for a in args.alphas.split(",")]
        samplers = args.samplers.split(",")
        args.total_steps = parse_value("total_steps", "int", args.total_steps)
        for name in samplers:  # every config checked before any training
            for a in alphas:
                preset(args.preset, sampler=name, pool_size=args.pool_size, pool_alpha=a)
    except (ConfigError, ValueError) as e:
        return fail("e07_alpha", e)
    try:
        run_grid(args, alphas, samplers, out)
    except (ValueError, SweepError, OSError) as e:  # a busy folder, another config, a stop
        return fail("e07_alpha", e)
    return report(out)


if __name__ == "__main__":
    sys.exit(main())
