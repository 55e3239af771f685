"""Calibration of the reward-result gap on PPO agents trained on a known reward mixture.

    python benchmarks/mixture_calibration.py --workers 2   # 4 tasks x 5 weights x 5 seeds
    python benchmarks/mixture_calibration.py --tasks coin --weights 0,1 --seeds 1 --total-steps 2e5

Each run is trained on the reward (1 - w) * base + w * proxy, on training levels where both
objectives are available (the task's knob at its deconfounded end, so nothing but the reward
decides which goal the agent learns), then evaluated as usual. `mesaworld analyze` then reads
each agent's behavioral objective. The table shows the true weight w next to what analyze
recovered: the agent's own scores, the gap in returns (score of the behavioral objective's
policy under base minus under the proxy; expected to fall as w rises), the held-out likelihood
gain of base and of the proxy over the nuisance-only model, and the label. Expected: the gap
decreases with w; at w = 0 the behavioral objective is base, at w = 1 the proxy (whose label is
"specification gaming": the agent pursues its own reward, which is the proxy).

Runs are ordinary run folders under --out (kept; a second call trains only what is missing,
and `analyze` resumes per run). Training uses the sweep's own worker loop (a signal or a dead
parent ends the workers) under one lock on --out. Per (task, w) the summary gives the mean gap
over seeds with its 95% t-interval over seeds and the labels with counts.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import pandas as pd

from mesaworld.analysis.behavioral import BehaviorSettings, analyze
from mesaworld.analysis.labels import cell_label
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.storage import exclusive
from mesaworld.envs.registry import get_task
from mesaworld.experiments.training.config import parse_value, preset
from mesaworld.experiments.training.sweep import train_runs

# Per task: (preset, the knob at which both objectives are available on the training levels).
DECONFOUNDED = {
    "roomba": ("roomba", 1.0),  # cans on every training level
    "coin": ("coin", 1.0),  # the coin anywhere, not on the exit
    "keys-chests": ("keys-chests", 1.0),  # more keys than chests
    "cheese-maze": ("cheese-maze", 11.0),  # the cheese anywhere
}


def configs(tasks: list[str], weights: list[float], seeds: int, steps: int | None) -> dict:
    out = {}
    for task in tasks:
        name, knob = DECONFOUNDED[task]
        proxy = get_task(task).proxies[0]
        for w in weights:
            mix = f"base:{1 - w:g},{proxy}:{w:g}"
            extra = {} if steps is None else {"total_steps": steps}
            for seed in range(seeds):
                cfg = preset(name, knob=knob, seed=seed, reward_weights=mix, **extra)
                out[f"{task}_w{w:g}_seed{seed}"] = cfg
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(DECONFOUNDED))
    p.add_argument("--weights", default="0,0.25,0.5,0.75,1")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per (task, weight)")
    p.add_argument("--total-steps", default=None, help="override the presets' budgets")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--levels", type=int, default=20, help="deploy levels analysed per run")
    p.add_argument("--max-states", type=int, default=60_000)
    p.add_argument("--out", default="runs/mixture_calibration")
    p.add_argument("--train-only", action="store_true")
    args = p.parse_args(argv)
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in DECONFOUNDED]
    if unknown:
        print(f"mixture_calibration: error: --tasks: no mixture setup for {unknown}; "
              f"known: {', '.join(DECONFOUNDED)}", file=sys.stderr)  # fmt: skip
        return 2
    weights = [parse_value("weights", "float", w) for w in args.weights.split(",")]
    if args.seeds < 1:
        print(f"mixture_calibration: error: --seeds must be >= 1, got {args.seeds}",
              file=sys.stderr)  # fmt: skip
        return 2
    steps = (
        None if args.total_steps is None else parse_value("total_steps", "int", args.total_steps)
    )
    root = Path(args.out)
    start = time.perf_counter()
    pairs = [(cfg, root / name) for name, cfg in configs(tasks, weights, args.seeds, steps).items()]
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with exclusive(root, "mixture_calibration"):
        train_runs(pairs, args.workers, say)
        print(f"trained in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        if args.train_only:
            return 0
        t0 = time.perf_counter()
        settings = BehaviorSettings(levels=args.levels, max_states=args.max_states)
        rows, _, _ = analyze(root, settings, out=root / "analysis", quiet=False)
    # analyze reads every run under --out; the tables are this command's runs only
    rows = rows[rows["run"].isin({run.name for _, run in pairs})]
    print(f"analysed {len(rows)} runs in {time.perf_counter() - t0:.0f} s")
    t = table(rows)
    print(t.round(2).to_string(index=False))
    print(markdown(summary(t)))
    print()
    print(label_sensitivity(rows))
    print("mean gap non-increasing in w (tolerance 0.05):", monotone(t).to_dict())
    return 0


def table(rows: pd.DataFrame) -> pd.DataFrame:
    """The calibration table: true weight, the agent's scores, the gap, the attribution's
    gain base - proxy (x1000, deploy) and the label; unrounded (round when printing)."""
    out = []
    for _, r in rows.iterrows():
        proxy = get_task(r["task"]).proxies[0]
        w = dict(p.split(":") for p in str(r["reward"]).split(",")).get(proxy, "0")
        out.append({
            "task": r["task"], "w": float(w), "train score": r.get("train_score", float("nan")),
            "score base": r["score/base"], "score proxy": r[f"score/{proxy}"],
            "gap": r[f"gap/{proxy}"], "gain base-proxy x1000": 1000 * r[f"gain_diff/{proxy}"],
            "label": r["shown"],
        })  # fmt: skip
    return pd.DataFrame(out).sort_values(["task", "w"])


def summary(t: pd.DataFrame) -> pd.DataFrame:
    """Per (task, w): the seeds, the mean gap with its 95% t-interval over seeds, the range of
    the train scores, and the labels with counts."""
    rows = []
    for (task, w), g in t.groupby(["task", "w"], sort=True):
        lo, hi = t_interval(g["gap"].to_numpy())
        rows.append({
            "task": task, "w": w, "seeds": len(g), "gap": g["gap"].mean(), "gap:lo": lo,
            "gap:hi": hi, "train min": g["train score"].min(), "train max": g["train score"].max(),
            "label": cell_label(g["label"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


NAMES = {
    "coin": "coin (end, 1)",
    "cheese-maze": "cheese maze (corner, 11)",
    "keys-chests": "keys and chests (keys, 1)",
    "roomba": "Roomba (dust_collected, 1)",
}


def markdown(cells: pd.DataFrame) -> str:
    """The README's two tables from `summary`: the mean gap [95% t over seeds] per task and w
    (the ends in bold), then the labels with counts."""
    weights = sorted(cells["w"].unique())
    head = "| task (proxy, knob) | " + " | ".join(f"w = {w:g}" for w in weights) + " |"
    rule = "|" + " --- |" * (len(weights) + 1)
    gaps, labels = [head, rule], [head, rule]
    for task, g in cells.groupby("task", sort=True):
        g = g.set_index("w")
        cell = [
            f"{g.loc[w, 'gap']:.2f} [{g.loc[w, 'gap:lo']:.2f}, {g.loc[w, 'gap:hi']:.2f}]"
            if w in g.index else "-"
            for w in weights
        ]  # fmt: skip
        gaps.append(f"| {NAMES.get(task, task)} | " + " | ".join(cell) + " |")
        names = [g.loc[w, "label"] if w in g.index else "-" for w in weights]
        labels.append(f"| {NAMES.get(task, task)} | " + " | ".join(names) + " |")
    return "\n".join([*gaps, "", *labels]).replace("-0.00", "0.00")


def label_sensitivity(rows: pd.DataFrame) -> str:
    """What each threshold moved by its step does to the runs' labels, per (task, w) cell (the
    runs' names without the seed), as printed beside the tables."""
    from mesaworld.analysis.behavioral import labellers
    from mesaworld.analysis.labels import sensitivity, sensitivity_markdown

    cells = {r["run"]: re.sub(r"_seed\d+$", "", r["run"]) for _, r in rows.iterrows()}
    return sensitivity_markdown(sensitivity(labellers(rows), cells, unused=("pai_pursued",)))


def monotone(t: pd.DataFrame) -> pd.Series:
    """Per task: is the mean gap over seeds non-increasing in w (the recovered mixture moves to
    the proxy)?"""
    means = t.groupby(["task", "w"], sort=True)["gap"].mean().reset_index()
    return means.groupby("task")["gap"].apply(lambda g: bool((g.diff().dropna() <= 0.05).all()))


if __name__ == "__main__":
    sys.exit(main())
