"""Experiment 2: which architectures learn the proxy? Architectures x tasks, over seeds.

Reads finished sweeps (one folder per architecture and task, each with its runs and the
task's baselines, as `mesaworld sweep` leaves them) and prints one row per (task, preset,
knob): competence on train levels, deploy return and proxy behaviour (95% t-intervals over
seeds), the cell's label with counts (`mesaworld.analysis.labels`: competence first, per run), and,
for planners whose folder has `readout/cells.csv` (`mesaworld readout`), the readout ratio
(how the learned reward values the proxy's own targets against the base's: 1 = alike). Beside
the table: the labels' sensitivity (`mesaworld.analysis.labels.sensitivity`): what each
threshold moved by its step does to the runs' labels and the cells', and the labels read on
the first 20 evaluation levels against all of them (the same episodes cut, nothing evaluated
again).

    python -m mesaworld.experiments.e02_architectures /tmp/sweeps/*      # any number of sweep folders
    python -m mesaworld.experiments.e02_architectures A B --csv table.csv

To make the folders (the README's table; ~5 seeds each, hours on 2 cores):
    mesaworld sweep roomba-long --knob 0 --seeds 5 --out sweeps/roomba-mlp
    mesaworld sweep roomba-planner --knob 0 --seeds 5 --out sweeps/roomba-planner
    mesaworld sweep roomba-planner-coords --knob 0 --seeds 5 --out sweeps/roomba-planner-coords
    mesaworld sweep roomba-recurrent --knob 0 --seeds 5 --out sweeps/roomba-recurrent
    mesaworld sweep cheese-maze --knob 1 --seeds 5 --out sweeps/cheese-mlp   (and -planner, ...)
    mesaworld readout sweeps/roomba-planner     (for each planner folder)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from mesaworld.analysis.labels import sensitivity, sensitivity_markdown
from mesaworld.analysis.metrics import gap_table, labels_on_first_levels, run_labellers, run_summary
from mesaworld.analysis.runs import RunsError, load_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.experiments.report import check_in_folders, check_out_file, fail


def _ci(row: pd.Series, m: str, scale: float = 1.0, digits: int = 0) -> str:
    if pd.isna(row.get(m)):
        return "-"
    lo, hi = row.get(f"{m}:lo"), row.get(f"{m}:hi")
    fmt = f"{{:.{digits}f}}"
    val = fmt.format(scale * row[m])
    return val if pd.isna(lo) else f"{val} [{fmt.format(scale * lo)}, {fmt.format(scale * hi)}]"


def _readout(folder: Path) -> dict[float, str]:
    path = folder / "readout" / "cells.csv"
    if not path.is_file():
        return {}
    cells = pd.read_csv(path)
    ratio = [c for c in cells.columns if c.startswith("deploy/ratio/") and ":" not in c]
    if not ratio:
        return {}
    m = ratio[0]
    return {float(r["knob"]): _ci(r, m, digits=2) for _, r in cells.iterrows()}


LEVELS = 20  # the labels are also read on the first this many evaluation levels


def architecture_rows(folder: str | Path, episodes: pd.DataFrame | None = None) -> list[dict]:
    """The trained cells of one sweep folder, one dict per (task, preset, knob). `episodes`:
    the folder's `load_runs`, when already read."""
    folder = Path(folder)
    episodes = load_runs(folder) if episodes is None else episodes
    table = gap_table(run_summary(episodes), str(folder))
    trained = table[table["role"] == "trained"]
    readouts = _readout(folder)
    rows = []
    for key, part in trained.groupby(["task", "preset", "knob"], sort=False):
        split = part.set_index("split")
        if not {"train", "deploy"} <= set(split.index):
            continue
        train, deploy = split.loc["train"], split.loc["deploy"]
        rows.append(
            {
                "task": key[0],
                "architecture": key[1],
                "knob": key[2],
                "seeds": int(deploy["seeds"]),
                "train base (% of optimum)": _ci(train, "norm/base", 100),
                "deploy base (%)": _ci(deploy, "norm/base", 100),
                "proxy behaviour (%)": _ci(deploy, "behaviour", 100),
                "readout ratio": readouts.get(float(key[2]), "-"),
                "label (runs)": deploy["label"],
            }
        )
    return rows


def label_sensitivity(loaded: dict[Path, pd.DataFrame], cell_of=None) -> str:
    """What each threshold moved by its step does to the trained runs' labels of every folder
    (`loaded`: folder -> its `load_runs`), per cell (task, preset, knob; or `cell_of(folder)`,
    a name for the folder's cell), and the labels on the first LEVELS evaluation levels against
    all of them."""
    labellers, cells, fewer, counts = {}, {}, {}, set()
    for folder, episodes in loaded.items():
        summary = run_summary(episodes)
        trained = summary[summary["role"] == "trained"]
        deploy = trained[trained["split"] == "deploy"].set_index("run")
        for run, f in run_labellers(trained, str(folder)).items():
            key = f"{folder}/{run}"
            labellers[key] = f
            row = deploy.loc[run]
            name = f"{row['task']} {row['preset']} {row['knob']:g}"
            cells[key] = name if cell_of is None else cell_of(folder)
        first = labels_on_first_levels(episodes, LEVELS, str(folder))
        fewer |= {f"{folder}/{run}": text for run, text in first.items()}
        counts |= set(episodes.groupby(["run", "split"])["level"].nunique())
    settings, note = {}, ""
    if fewer:
        every = "/".join(str(n) for n in sorted(counts))
        settings = {("evaluation levels", every, str(LEVELS)): fewer}
    else:
        note = f"\n\n(every run has {LEVELS} evaluation levels or fewer: no level sensitivity)"
    rows = sensitivity(labellers, cells, settings, unused=("gain_pursued",))  # no IRL here
    return sensitivity_markdown(rows) + note


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no optional dependency)."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in row) + " |"
              for row in table.itertuples(index=False)]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folders", nargs="+", help="sweep folders (runs + the task's baselines)")
    p.add_argument("--csv", default=None, help="also write the table here")
    args = p.parse_args(argv)
    rows, loaded = [], {}
    try:
        # Paths first: an unwritable --csv used to surface as a traceback after the table.
        folders = check_in_folders("folder", args.folders)
        csv = check_out_file("--csv", args.csv) if args.csv else None
        for folder in folders:
            loaded[folder] = load_runs(folder)
            rows += architecture_rows(folder, loaded[folder])
    except (RunsError, OSError, ValueError) as e:
        return fail("e02_architectures", e)
    if not rows:
        return fail("e02_architectures", "no finished trained runs in those folders")
    table = pd.DataFrame(rows).sort_values(["task", "architecture", "knob"])
    print(markdown(table))
    print()
    print(label_sensitivity(loaded))
    if csv is not None:
        atomic_write_text(csv, table.to_csv(index=False))  # never a half-written table
    return 0


if __name__ == "__main__":
    sys.exit(main())
