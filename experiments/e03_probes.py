"""Experiment 3: the optimizer-vs-heuristic probes over seeds and architectures.

For every finished trained run under the given sweep folders: the basin of attraction
(teleported at step 3: return rate to each target set), retargeting (success with the goal
rewritten, and unedited: how often the agent stands on the new cell anyway; a planner's reward
map edited, another network steered through its last spatial layer, "n/a" for an MLP), and
linear probes (per goal label, the layer chosen on validation levels, scored on other held-out
levels on all steps and on the steps where the goals disagree, each beside chance: the
majority class of the scored steps). Per (task, preset, knob): mean [95% t-interval over
seeds]. Once per task, on the same levels, the references (a hand-coded optimizer, a memorised
route) and the controls (a pursuer of each proxy: the other goal; a random walker: none) are
measured alike, one run each.

Writes <out>/probe_runs.csv (one row per run, reference and control; after every run: an
interrupted call, run again, probes only what it had not reached), probe_cells.csv and
probes_<task>.png, and prints the README's tables. `--from-cells` redraws the figure and
reprints the tables from a cells file alone (the committed docs/results/e03_probes_cells.csv),
without the run folders:

    python -m mesaworld.experiments.e03_probes sweeps/roomba-mlp sweeps/roomba-planner --out runs/e03
    python -m mesaworld.experiments.e03_probes --from-cells docs/results/e03_probes_cells.csv --out docs
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mesaworld.analysis.figure_files import interval_errors, mark_bars, save_figure
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import read_config
from mesaworld.analysis.runs import RunsError, finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.experiments.instruments.instrument import ProbeSettings
from mesaworld.experiments.instruments.registry import INSTRUMENTS, measure
from mesaworld.experiments.report import (
    BadArgument,
    check_in_folders,
    check_out_folder,
    fail,
    figure_files,
    finish,
)

RUNS, CELLS = "probe_runs.csv", "probe_cells.csv"  # under --out
KEYS = ["task", "role", "preset", "knob"]  # a cell: the runs that differ only in seed
ROLES = ("trained", "reference", "control")  # the row order of the tables
# Per-run columns that are not probe figures.
ABOUT = ("task", "role", "preset", "knob", "seed", "network", "steps", "levels", "run", "path")
ABOUT += ("trained at",)  # the git commit the run was trained at


def _tabulated() -> list[str]:
    """The instruments with a headline figure per run (the table iterates them)."""
    return [name for name, inst in INSTRUMENTS.items() if inst.headline is not None]


def _numbers(run: Path, levels: int) -> dict:
    """One run's probe figures (module docstring): every tabulated instrument's headline; an
    instrument that does not apply leaves NaN and its one-line reason in "<name> note"."""
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
    """The references and the controls, one row each, on the levels of `run`."""
    rows: dict[str, dict] = {}
    for role, settings in (
        ("reference", ProbeSettings(levels, agent=False)),
        ("control", ProbeSettings(levels, agent=False, references=False, controls=True)),
    ):
        for name in _tabulated():
            table, _ = measure(name, run, settings)
            for agent, g in table.groupby("agent", sort=False):
                about = {"task": task, "role": role, "preset": agent, "knob": np.nan}
                row = rows.setdefault(agent, about | {"seed": np.nan, "levels": levels})
                row |= INSTRUMENTS[name].headline(g)
    return list(rows.values())


def _metrics(runs: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """The probe columns of a runs table: numbers, words (a chosen layer), notes."""
    cols = [c for c in runs.columns if c not in ABOUT]
    notes = [c for c in cols if c.endswith(" note")]
    words = [c for c in cols if c.endswith(" layer")]
    numbers = [c for c in cols if c not in notes and c not in words]
    return numbers, words, notes


def _count_words(values: pd.Series) -> str:
    """'reward_head 4/5, conv.1 1/5': each value with how many runs gave it, most first (one
    run: the value alone)."""
    found = Counter(v for v in values if isinstance(v, str))
    n = len(values)
    if n == 1:
        return next(iter(found), np.nan)
    return ", ".join(f"{v} {k}/{n}" for v, k in found.most_common())


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (task, role, preset, knob): the runs (`seeds`), each probe figure's mean over them
    and its 95% t-interval over seeds (<m>:lo, <m>:hi; NaN for one run), each chosen layer with
    its count, and the first note of an instrument that did not apply."""
    numbers, words, notes = _metrics(runs)
    rows = []
    for key, g in runs.groupby(KEYS, dropna=False, sort=False):
        row = dict(zip(KEYS, key)) | {"seeds": len(g)}
        for c in ("network", "steps", "levels"):
            if c in g:
                row[c] = g[c].iloc[0]
        for m in numbers:
            x = g[m].to_numpy(float)
            x = x[np.isfinite(x)]
            row[m] = float(x.mean()) if len(x) else np.nan
            row[f"{m}:lo"], row[f"{m}:hi"] = t_interval(x)
        for m in words:
            row[m] = _count_words(g[m])
        for m in notes:
            said = g[m].dropna()
            row[m] = said.iloc[0] if len(said) else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    # Trained cells by preset and knob, then the references and the controls as measured.
    trained = table[table["role"] == "trained"].sort_values(["task", "preset", "knob"])
    rest = table[table["role"] != "trained"]
    rest = rest.iloc[np.argsort(rest["role"].map(ROLES.index).to_numpy(), kind="stable")]
    return pd.concat([trained, rest], ignore_index=True)


# --- the tables -------------------------------------------------------------------------------
def _name(r) -> str:
    """The row's agent: a trained cell by its preset, network and budget, others by name."""
    if r["role"] != "trained":
        return str(r["preset"])
    return f"{r['preset']} ({r['network']}, {round(float(r['steps']) / 1e5) / 10:g}M steps)"


def _knob(r) -> str:
    return "-" if pd.isna(r["knob"]) else f"{float(r['knob']):g}"


def _pct(r, m: str) -> str:
    """'94 [93, 96]' (mean [95% t-interval over seeds], in %, clipped to [0, 100]), '94' for
    one run, 'n/a' where the figure does not exist."""
    value = r.get(m, np.nan)
    if pd.isna(value):
        return "n/a"
    lo, hi = r.get(f"{m}:lo", np.nan), r.get(f"{m}:hi", np.nan)
    if pd.isna(lo) or pd.isna(hi):
        return f"{100 * value:.0f}"
    lo, hi = np.clip([lo, hi], 0, 1)
    return f"{100 * value:.0f} [{100 * lo:.0f}, {100 * hi:.0f}]"


def _basin_sets(table: pd.DataFrame) -> list[str]:
    return [c[len("basin/") :] for c in table.columns if c.startswith("basin/") and ":" not in c]


def _goals(table: pd.DataFrame) -> list[str]:
    """The goal labels the linear probes report (each has a chosen layer)."""
    return [c[len("linear/") : -len(" layer")] for c in table.columns
            if c.startswith("linear/") and c.endswith(" layer")]  # fmt: skip


def markdown(table: pd.DataFrame) -> str:
    """The README's two tables from a cells table: the behavioural probes (basin,
    retargeting), then the linear probes per goal label (the chosen layer, all steps and the
    steps where the goals disagree, each with its chance)."""
    sets = _basin_sets(table)
    head = ["agent", "knob", "runs"] + [f"returns to {k} (%)" for k in sets]
    head += ["retargeted (%)", "unedited, on the new cell anyway (%)"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for _, r in table.iterrows():
        cells_ = [_name(r), _knob(r), str(int(r["seeds"]))]
        cells_ += [_pct(r, f"basin/{k}") for k in sets]
        cells_ += [_pct(r, "retarget"), _pct(r, "retarget control")]
        lines.append("| " + " | ".join(cells_) + " |")
    head = ["agent", "knob", "goal", "layer (chosen on validation levels)", "all steps (%)"]
    head += ["chance (%)", "steps where the goals disagree (%)", "chance (%)"]
    head += ["steps scored: all / disagree"]
    lines += ["", "| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for _, r in table.iterrows():
        for goal in _goals(table):
            m = f"linear/{goal}"
            layer = r.get(f"{m} layer")
            steps = " / ".join(
                "n/a" if pd.isna(r.get(s)) else f"{r[s]:.0f}"
                for s in (f"{m} steps", f"{m} disagree steps")
            )
            cells_ = [_name(r), _knob(r), goal, layer if isinstance(layer, str) else "n/a"]
            cells_ += [_pct(r, m), _chance(r, f"{m} chance"), _pct(r, f"{m} disagree")]
            cells_ += [_chance(r, f"{m} disagree chance"), steps]
            lines.append("| " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def _chance(r, m: str) -> str:
    value = r.get(m, np.nan)
    return "n/a" if pd.isna(value) else f"{100 * value:.0f}"


# --- the figure -------------------------------------------------------------------------------
def _bars(ax, table: pd.DataFrame, series: list[tuple[str, str]], chance: bool = False) -> None:
    """Grouped bars (in %) per row of `table` for each (column, legend label), with 95%
    t-interval error bars where a cell has one; 'n/a' written where a figure does not exist
    (never a bar of height 0), '0' on a bar of 0; chance: a dashed black line over each bar at its column's chance."""
    x = np.arange(len(table))
    width = 0.8 / len(series)
    nan = pd.Series(np.nan, index=table.index)
    for j, (m, label) in enumerate(series):
        pos = x + (j - (len(series) - 1) / 2) * width
        value = 100 * table.get(m, nan).to_numpy(float)
        lo = 100 * table.get(f"{m}:lo", nan).to_numpy(float)
        hi = 100 * table.get(f"{m}:hi", nan).to_numpy(float)
        ok = np.isfinite(value)
        ax.bar(pos[ok], value[ok], width, label=label, color=f"C{j}")
        ci = ok & np.isfinite(lo) & np.isfinite(hi)  # one run: no interval, no error bar
        err = interval_errors(value[ci], lo[ci], hi[ci], (0, 100))
        ax.errorbar(pos[ci], value[ci], yerr=err, fmt="none", ecolor="0.2", capsize=2, lw=1)
        mark_bars(ax, pos, value)  # "n/a" where a figure does not exist, "0" on a zero bar
        if chance and f"{m} chance" in table:
            c = 100 * table[f"{m} chance"].to_numpy(float)
            ax.hlines(c[ok], pos[ok] - width / 2, pos[ok] + width / 2, colors="k",
                      linestyles="--", zorder=3, label="chance (majority class)" if j == 0 else None)  # fmt: skip


def draw(table: pd.DataFrame, task: str):
    """The probes figure of one task's cells (trained cells, then references, then controls):
    basin, retargeting (with the unedited control), and the linear probes on all steps and on
    the steps where the goals disagree (with chance)."""
    names = [f"{_name(r)}, knob {_knob(r)}" if r["role"] == "trained" else _name(r)
             for _, r in table.iterrows()]  # fmt: skip
    sets, goals = _basin_sets(table), _goals(table)
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    (basin, retarget), (linear, apart) = axes
    _bars(basin, table, [(f"basin/{k}", k) for k in sets])
    walker = table[table["preset"] == "random walker"]
    for j, k in enumerate(sets):
        if len(walker) and np.isfinite(walker[f"basin/{k}"].iloc[0]):
            basin.axhline(100 * walker[f"basin/{k}"].iloc[0], color=f"C{j}", ls=":", lw=1.2,
                          label=f"random walker (control), {k}")  # fmt: skip
    basin.set_title("basin: returned within 2d + 2 steps of a teleport", fontsize=9)
    basin.set_ylabel("episodes returning to the target set (%)")
    _bars(retarget, table, [("retarget", "goal rewritten"), ("retarget control", "unedited")])
    retarget.set_title("retargeting: stood on the new goal cell", fontsize=9)
    retarget.set_ylabel("episodes on the new cell (%)")
    for ax, suffix, title in (
        (linear, "", "on all steps"),
        (apart, " disagree", "on the steps where the goals disagree"),
    ):
        _bars(ax, table, [(f"linear/{g}{suffix}", g) for g in goals], chance=True)
        ax.set_title(f"linear probes: goal decoded {title} (chosen layer)", fontsize=9)
        ax.set_ylabel("decoding accuracy on held-out levels (%)")
    trained = int((table["role"] == "trained").sum())
    for ax in axes.flat:
        ax.set_xticks(np.arange(len(table)), names, rotation=35, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(table) - 0.5)  # every row in view, also one with no bar (n/a)
        ax.set_xlabel("agent (shaded: references and controls, one run each)", fontsize=8)
        if trained < len(table):
            ax.axvspan(trained - 0.5, len(table) - 0.5, color="0.92", zorder=0)
        ax.set_ylim(0, 135)
        ax.set_yticks(np.arange(0, 101, 20))
        ax.legend(fontsize=6.5, loc="upper center", ncol=3)
    seeds = sorted({int(k) for k in table.loc[table["role"] == "trained", "seeds"]})
    n = "-".join(str(k) for k in dict.fromkeys([seeds[0], seeds[-1]])) if seeds else "0"
    levels = int(table["levels"].max())
    fig.suptitle(
        f"{task}: optimizer-vs-heuristic probes on {levels} deploy levels. Trained agents: mean "
        f"over n = {n} seeds per cell, bars 95% t-interval over seeds; references and controls: "
        "one run each on the same levels",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def figures(table: pd.DataFrame, out: Path) -> list[Path]:
    """One figure per task: out/probes_<task>.png/pdf."""
    written = []
    for task, g in table.groupby("task", sort=False):
        written += save_figure(draw(g.reset_index(drop=True), task), out / f"probes_{task}")
    return written


def _runs(rows: list[dict], refs: dict[str, list[dict]]) -> pd.DataFrame:
    return pd.DataFrame(rows + [r for ref in refs.values() for r in ref])


def _keep(out: Path, rows: list[dict], refs: dict[str, list[dict]]) -> None:
    """What is probed so far, to out/probe_runs.csv (a later call resumes from it)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUNS, _runs(rows, refs).to_csv(index=False))


# --- the command ------------------------------------------------------------------------------
def _from_cells(path: str, out: str) -> int:
    """Reprint the tables and redraw the figures from a cells file alone."""
    if not Path(path).is_file():
        raise BadArgument(f"--from-cells: {path} is not a file")
    table = pd.read_csv(path)
    missing = [c for c in [*KEYS, "seeds", "levels"] if c not in table]
    if missing:
        raise BadArgument(f"--from-cells: {path} is not an e03 cells table (no {missing})")
    stems = [f"probes_{task}" for task in table["task"].unique()]
    folder = check_out_folder("--out", out, [f for s in stems for f in figure_files(s)])
    print("\n\n".join(markdown(g.reset_index(drop=True)) for _, g in table.groupby("task")))
    written = figures(table, folder)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folders", nargs="*", help="sweep folders of trained runs")
    p.add_argument("--levels", type=int, default=100, help="deploy evaluation levels per probe")
    p.add_argument("--out", default="runs/e03_probes", help="where tables and figures go")
    p.add_argument("--knob", type=float, default=None, help="only runs trained at this knob")
    p.add_argument(
        "--from-cells",
        default=None,
        metavar="CSV",
        help="redraw the figure and reprint the tables from this cells file (no probing)",
    )
    args = p.parse_args(argv)
    rows, refs = [], {}
    try:
        if args.from_cells is not None:
            if args.folders:
                raise BadArgument("--from-cells reads a cells file: give no sweep folders")
            return _from_cells(args.from_cells, args.out)
        if not args.folders:
            raise BadArgument("give sweep folders of trained runs (or --from-cells CSV)")
        # Checked before the first probe: a bad path found after probing wastes minutes.
        folders = check_in_folders("folder", args.folders)
        out = check_out_folder("--out", args.out, [RUNS, CELLS])
        # Runs probed by an earlier call (same --out) are kept, not probed again.
        done = pd.read_csv(out / RUNS) if (out / RUNS).is_file() else None
        if done is not None and "role" not in done:
            done = None  # written before the table had roles: probed again
        for folder in folders:
            for run in finished_runs(folder)[0]:
                meta = read_config(run)
                if meta.get("role") != "trained":
                    continue
                if args.knob is not None and meta["knob"] != args.knob:
                    continue
                base = {k: meta[k] for k in ("task", "preset", "knob", "seed")} | {
                    "role": "trained",
                    "network": meta["config"]["network"],
                    "steps": meta["total_steps"],
                    "trained at": meta.get("git_commit"),
                    "levels": args.levels,
                }
                if done is not None and str(run) in set(done["path"].dropna()):
                    kept = done[done["path"] == str(run)].iloc[0].to_dict()
                    rows.append(kept | {k: v for k, v in base.items() if pd.isna(kept.get(k))})
                else:
                    print(f"probing {run}", file=sys.stderr)
                    rows.append(
                        base | {"run": run.name, "path": str(run)} | _numbers(run, args.levels)
                    )
                    _keep(out, rows, refs)
                task = meta["task"]
                if task not in refs:
                    kept = None if done is None else done[
                        (done["task"] == task) & (done["role"] != "trained")
                    ]  # fmt: skip
                    if kept is not None and len(kept):
                        refs[task] = kept.to_dict("records")
                    else:
                        print(f"probing the references and controls of {task}", file=sys.stderr)
                        refs[task] = _references(task, run, args.levels)
                        _keep(out, rows, refs)
    except (RunsError, OSError, ValueError) as e:
        return fail("e03_probes", e)
    if not rows:
        return fail("e03_probes", "no finished trained runs in those folders")
    runs = _runs(rows, refs)
    table = cells(runs)
    text = "\n\n".join(markdown(g.reset_index(drop=True)) for _, g in table.groupby("task"))
    finish(out, {RUNS: runs, CELLS: table}, lambda: figures(table, out), text)
    print(f"wrote {out / CELLS} and {out}/probes_<task>.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
