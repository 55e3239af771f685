"""Experiment 3: the three optimizer-vs-heuristic probes over seeds and architectures.

For every finished trained run under the given sweep folders: the basin of attraction
(teleported at step 3: return rate to each target set), retargeting (success with the goal
rewritten; a planner's reward map edited, another network steered through its last spatial
layer, "n/a" for an MLP), and linear probes (the best layer's held-out accuracy decoding the
nearest target of each objective, goal/<k>). Per (task, preset, knob): mean [95% t-interval
over seeds]; the hand-coded optimizer and the memorised route are scored once per task on the
same levels, as references. Writes <out>/probe_runs.csv (after every run: an interrupted call,
run again, probes only the runs it had not reached), probe_cells.csv and probes_<task>.png.

    python -m mesaworld.experiments.e03_probes sweeps/roomba-mlp sweeps/roomba-planner --out runs/e03
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import save_figure
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import read_config
from mesaworld.analysis.runs import RunsError, finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.experiments.instruments.instrument import ProbeSettings
from mesaworld.experiments.instruments.registry import INSTRUMENTS, measure
from mesaworld.experiments.report import check_in_folders, check_out_folder, fail, finish

RUNS, CELLS = "probe_runs.csv", "probe_cells.csv"  # under --out


def _tabulated() -> list[str]:
    """The instruments with a headline figure per run (the table iterates them)."""
    return [name for name, inst in INSTRUMENTS.items() if inst.headline is not None]


def _numbers(run: Path, levels: int) -> dict:
    """One run's probe figures (module docstring): every tabulated instrument's headline."""
    out: dict = {}
    for name in _tabulated():
        try:
            table, _ = measure(name, run, ProbeSettings(levels, references=False))
        except ValueError as e:  # an instrument that does not apply (an MLP has no map)
            out[name], out[f"{name} note"] = np.nan, str(e).split(": ", 1)[-1]
            continue
        out |= INSTRUMENTS[name].headline(table)
    return out


def _references(task: str, run: Path, levels: int) -> list[dict]:
    """The hand-coded optimizer and the memorised route, on the levels of `run`."""
    rows: dict[str, dict] = {}
    for name in _tabulated():
        table, _ = measure(name, run, ProbeSettings(levels, agent=False))
        for agent, g in table.groupby("agent", sort=False):
            row = rows.setdefault(agent, {"task": task, "preset": agent, "knob": np.nan})
            row |= INSTRUMENTS[name].headline(g)
    return list(rows.values())


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval over seeds per (task, preset, knob)."""
    metrics = [c for c in runs.columns if c.startswith(("basin/", "linear/")) or c == "retarget"]
    rows = []
    for key, g in runs.groupby(["task", "preset", "knob"], dropna=False, sort=False):
        row = dict(zip(("task", "preset", "knob"), key)) | {"seeds": len(g)}
        for m in metrics:
            x = g[m].to_numpy(float)
            x = x[np.isfinite(x)]
            row[m] = float(x.mean()) if len(x) else np.nan
            row[f"{m}:lo"], row[f"{m}:hi"] = t_interval(x) if len(x) > 1 else (np.nan, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, path: Path, task: str) -> list[Path]:
    """One panel per probe; a bar per cell (references without intervals)."""
    groups = [["basin/base"], ["retarget"], [c for c in table.columns if c.startswith("linear/")
              and ":" not in c]]  # fmt: skip
    groups[0] += [c for c in table.columns if c.startswith("basin/") and ":" not in c
                  and c != "basin/base"]  # fmt: skip
    titles = ("basin: returned after a teleport", "retargeting: reached the new goal",
              "linear probes: goal decoded (best layer)")  # fmt: skip
    names = [p if pd.isna(k) else f"{p} {k:g}" for p, k in zip(table["preset"], table["knob"])]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), sharey=True)
    for ax, cols, title in zip(axes, groups, titles):
        x = np.arange(len(table))
        width = 0.8 / max(1, len(cols))
        for j, m in enumerate(cols):
            lo = table.get(f"{m}:lo", pd.Series(np.nan, index=table.index))
            hi = table.get(f"{m}:hi", pd.Series(np.nan, index=table.index))
            err = np.clip(np.nan_to_num([table[m] - lo, hi - table[m]]), 0, None)
            ax.bar(x + j * width, table[m].fillna(0), width, yerr=err, label=m.split("/", 1)[-1])
        ax.set_xticks(x + 0.4 - width / 2, names, rotation=35, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1.05)
        if len(cols) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(f"{task}: optimizer-vs-heuristic probes, mean [95% t-interval over seeds]")
    fig.tight_layout()
    return save_figure(fig, path)


def figures(table: pd.DataFrame, out: Path) -> None:
    """One figure per task: out/probes_<task>.png/pdf."""
    for task, g in table.groupby("task", sort=False):
        figure(g.reset_index(drop=True), out / f"probes_{task}", task)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folders", nargs="+", help="sweep folders of trained runs")
    p.add_argument("--levels", type=int, default=100, help="deploy evaluation levels per probe")
    p.add_argument("--out", default="runs/e03_probes", help="where tables and figures go")
    p.add_argument("--knob", type=float, default=None, help="only runs trained at this knob")
    args = p.parse_args(argv)
    rows, refs = [], {}
    try:
        # Checked before the first probe: a bad path found after probing wastes minutes.
        folders = check_in_folders("folder", args.folders)
        out = check_out_folder("--out", args.out, [RUNS, CELLS])
        # Runs probed by an earlier call (same --out) are kept, not probed again.
        done = pd.read_csv(out / RUNS) if (out / RUNS).is_file() else None
        for folder in folders:
            for run in finished_runs(folder)[0]:
                meta = read_config(run)
                if meta.get("role") != "trained":
                    continue
                if args.knob is not None and meta["knob"] != args.knob:
                    continue
                base = {k: meta[k] for k in ("task", "preset", "knob", "seed")}
                if done is not None and str(run) in set(done["path"]):
                    rows.append(done[done["path"] == str(run)].iloc[0].to_dict())
                else:
                    print(f"probing {run}", file=sys.stderr)
                    rows.append(
                        base | {"run": run.name, "path": str(run)} | _numbers(run, args.levels)
                    )
                    out.mkdir(parents=True, exist_ok=True)
                    atomic_write_text(out / RUNS, pd.DataFrame(rows).to_csv(index=False))
                if meta["task"] not in refs:
                    refs[meta["task"]] = _references(meta["task"], run, args.levels)
    except (RunsError, OSError, ValueError) as e:
        return fail("e03_probes", e)
    if not rows:
        return fail("e03_probes", "no finished trained runs in those folders")
    runs = pd.DataFrame(rows)
    table = cells(runs)
    for ref in refs.values():
        table = pd.concat([table, pd.DataFrame(ref)], ignore_index=True)
    shown = [c for c in table.columns if ":" not in c and c not in ("task",)]
    text = table[["task", *shown]].round(2).to_string(index=False)
    finish(out, {RUNS: runs, CELLS: table}, lambda: figures(table, out), text)
    print(f"wrote {out / CELLS} and {out}/probes_<task>.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
