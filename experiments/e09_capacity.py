"""Experiment 9: approximate alignment from a representational limit (issue 24, item 6). The
signpost planner (`mesaworld.envs.tasks.signpost`) at reward-net capacities L = 1-5 (3x3 conv
layers: a reward at a cell sees L cells around it), 5 seeds each.

In the signpost task dust pays +1 in a column whose post in the sign row is signed and -1 in
the others, and dust lies 1-5 rows below the signs. A reward net with L layers can tell signed
from unsigned dust at distance d <= L only. Per run, on the start observations of the train
evaluation levels:

    train/auc/sign/d<d>   P(map at a signed dust cell > map at an unsigned one) among the dust
                          d rows below the sign row, pooled over levels (ties 1/2; the map is a
                          translation-equivariant local function, so its values compare across
                          levels): 1 = the map orders them as the base objective does, 0.5 =
                          it cannot tell them apart
    train/auc/sign/seen   mean of d<d> over d <= L (inside the reward net's field)
    train/auc/sign/unseen mean over d > L (NaN at L = 5: none)
    train/auc/sign/all    mean over d = 1-5: the mesa-objective's agreement with the base map

and, per split, the base score on the learned map, on the map with the unsigned dust set to
the floor's value ("no proxy": the error removed) and on the exact base map, with what each
correction gains (`mesaworld.experiments.instruments.approximate`), and the share of unsigned
dust cleaned. Per capacity: mean and 95% t-interval over seeds. Writes <out>/L<L>/ (the
runs), <out>/capacity/L<L>__<run>.csv (per run, as it goes), e09_capacity_runs.csv,
e09_capacity_cells.csv and capacity.png/pdf, and prints the README table. Run again: only what
is missing is trained or measured.

    python -m mesaworld.experiments.e09_capacity --workers 1
    # twice the budget at the largest field (the README's second table)
    python -m mesaworld.experiments.e09_capacity --workers 1 --capacities 5 --steps 600000 \
        --out runs/e09_capacity_600k
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mesaworld.analysis.figure_files import interval_errors, save_figure
from mesaworld.analysis.metrics import t_interval
from mesaworld.analysis.runfolder import ci_columns, eval_arrays, read_config
from mesaworld.analysis.runs import finished_runs
from mesaworld.analysis.storage import atomic_write_text
from mesaworld.envs.registry import TASKS
from mesaworld.envs.tasks.signpost import SIGN_ROW
from mesaworld.experiments.instruments.approximate import approximate_row
from mesaworld.experiments.instruments.readout import start_observations
from mesaworld.experiments.report import check_out_folder, fail, figure_files, finish
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.config import ConfigError, preset
from mesaworld.experiments.training.sweep import parallel_map, run_sweep, sweep_configs

TASK, PRESETS = "signpost", ("signpost-planner", "signpost-tiny")
DISTANCES = (1, 2, 3, 4, 5)
RUNS, CELLS, FIGURE = "e09_capacity_runs.csv", "e09_capacity_cells.csv", "capacity"


def sign_aucs(obs: np.ndarray, maps: np.ndarray) -> dict[int, float]:
    """Per distance d below the sign row: P(map at signed dust > map at unsigned dust), pooled
    over levels, ties 1/2 (NaN where either kind is absent)."""
    targets = TASKS[TASK].targets(obs)
    dust, signed = targets["dust_collected"], targets["base"]
    rows = np.arange(obs.shape[2])[None, :, None] - SIGN_ROW
    out = {}
    for d in DISTANCES:
        a, b = maps[signed & (rows == d)], maps[dust & ~signed & (rows == d)]
        if len(a) and len(b):
            a, b = np.sort(a), np.sort(b)
            below = np.searchsorted(b, a, "left")
            ties = np.searchsorted(b, a, "right") - below
            out[d] = float((below + 0.5 * ties).sum() / (len(a) * len(b)))
        else:
            out[d] = float("nan")
    return out


def _unsigned_share(run: Path, split: str, levels: int) -> float:
    """The share of the unsigned dust that the trained agent cleaned on `split` (its
    evaluation episodes, the first `levels` levels)."""
    ep = pd.read_csv(run / "episodes.csv")
    ep = ep[(ep["split"] == split) & (ep["level"] < levels)].sort_values("level")
    with np.load(run / eval_arrays(split), allow_pickle=False) as data:
        codes = data["levels"][: len(ep)]
    t = start_observations(TASK, codes)
    targets = TASKS[TASK].targets(t)
    unsigned = (targets["dust_collected"] & ~targets["base"]).sum((1, 2))
    return float(ep["measure/unsigned_dust"].sum() / max(unsigned.sum(), 1))


def _per_run(run: Path, out: Path, layers: int, levels: int) -> dict:
    cache = out / "capacity" / f"L{layers}__{run.name}.csv"
    if cache.is_file():
        return pd.read_csv(cache).iloc[0].to_dict()
    row = approximate_row(run, levels) | {"reward_layers": layers, "run": run.name}
    agent, _ = load_agent(run)
    if int(getattr(agent, "reward_layers", 2)) != layers:
        raise ValueError(f"{run}: reward_layers {agent.reward_layers}, expected {layers}")
    with np.load(run / eval_arrays("train"), allow_pickle=False) as data:
        obs = start_observations(TASK, data["levels"][:levels])
    with torch.no_grad():
        maps = agent.reward_map(torch.from_numpy(obs)).numpy()
    aucs = sign_aucs(obs, maps)
    for d, v in aucs.items():
        row[f"train/auc/sign/d{d}"] = v
    seen = [aucs[d] for d in DISTANCES if d <= layers]
    unseen = [aucs[d] for d in DISTANCES if d > layers]
    row["train/auc/sign/seen"] = float(np.nanmean(seen)) if seen else np.nan
    row["train/auc/sign/unseen"] = float(np.nanmean(unseen)) if unseen else np.nan
    row["train/auc/sign/all"] = float(np.nanmean(list(aucs.values())))
    for split in ("train", "deploy"):
        row[f"{split}/unsigned"] = _unsigned_share(run, split, levels)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, pd.DataFrame([row]).to_csv(index=False))
    return row


AUCS = [f"train/auc/sign/d{d}" for d in DISTANCES]
AUCS += [f"train/auc/sign/{k}" for k in ("seen", "unseen", "all")]
METRICS = AUCS + [
    f"{s}/{m}"
    for s in ("train", "deploy")
    for m in ("ratio/dust_collected", "score/learned", "unsigned", "cost/no proxy", "cost/exact")
]


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval over seeds per capacity."""
    out = []
    for layers, g in runs.groupby("reward_layers", sort=True):
        rec = {
            "reward_layers": int(layers),
            "seeds": len(g),
            "steps": int(g["total_steps"].iloc[0]),
        }
        rec["plan_steps"] = int(g["plan_steps"].iloc[0])
        for m in METRICS:
            lo, hi = ci_columns(m)
            x = g[m].to_numpy(float)
            rec[m] = float(np.nanmean(x)) if np.isfinite(x).any() else np.nan
            rec[lo], rec[hi] = t_interval(x) if np.isfinite(x).all() else (np.nan, np.nan)
        out.append(rec)
    return pd.DataFrame(out)


def _ci(r: pd.Series, m: str, kind: str = "") -> str:
    """Mean [interval]; a probability's ("auc", "pct") interval clipped to [0, 1]."""
    lo, hi = ci_columns(m)
    if not np.isfinite(r[m]):
        return "none (every row within)"
    a, b = (max(r[lo], 0.0), min(r[hi], 1.0)) if kind else (r[lo], r[hi])
    if kind == "pct":
        return f"{100 * r[m]:.0f}% [{100 * a:.0f}, {100 * b:.0f}]"
    return f"{r[m]:.2f} [{a:.2f}, {b:.2f}]"


COLUMNS = (
    ("train: sign AUC, rows within the field (d <= L)", "train/auc/sign/seen", "auc"),
    ("train: sign AUC, rows beyond (d > L)", "train/auc/sign/unseen", "auc"),
    ("train: sign AUC, all rows", "train/auc/sign/all", "auc"),
    ("train: base score", "train/score/learned", ""),
    ("deploy: base score", "deploy/score/learned", ""),
    ("deploy: unsigned dust cleaned", "deploy/unsigned", "pct"),
    ("deploy: gain, proxy error removed", "deploy/cost/no proxy", ""),
    ("deploy: gain, exact base map", "deploy/cost/exact", ""),
)


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| reward net: L conv layers (field) | seeds | " + " | ".join(c[0] for c in COLUMNS) + " |",
        "|" + " --- |" * (2 + len(COLUMNS)),
    ]
    for _, r in table.iterrows():
        n = int(r["reward_layers"])
        row = [_ci(r, m, kind) for _, m, kind in COLUMNS]
        lines.append(
            f"| L = {n} ({2 * n + 1}x{2 * n + 1}) | {int(r['seeds'])} | " + " | ".join(row) + " |"
        )
    return "\n".join(lines)


def figure(table: pd.DataFrame, path: Path) -> list[Path]:
    """Left: the sign AUC of the learned map by distance below the sign row, a line per
    capacity. Right: deploy base score (learned map) and what correcting the map gains, by
    capacity. Means over seeds, whiskers 95% t-intervals over seeds."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = plt.get_cmap("viridis")
    for i, (_, r) in enumerate(table.iterrows()):
        n, c = int(r["reward_layers"]), cmap(i / max(len(table) - 1, 1))
        y = np.array([r[f"train/auc/sign/d{d}"] for d in DISTANCES])
        lo = np.array([r[ci_columns(f"train/auc/sign/d{d}")[0]] for d in DISTANCES])
        hi = np.array([r[ci_columns(f"train/auc/sign/d{d}")[1]] for d in DISTANCES])
        at = np.array(DISTANCES) + 0.06 * (i - (len(table) - 1) / 2)
        left.errorbar(at, y, yerr=interval_errors(y, lo, hi, (0, 1)),
                      color=c, marker="o", ms=4, capsize=2, label=f"L = {n}")  # fmt: skip
        if n < max(DISTANCES):
            left.axvline(n + 0.5, color=c, lw=0.8, ls=":")
    left.axhline(0.5, color="grey", lw=0.8, ls="--")
    left.text(5.45, 0.51, "chance", fontsize=7, color="grey", ha="right", va="bottom")
    left.set_xticks(DISTANCES)
    left.set_ylim(0.0, 1.05)
    left.set_xlabel("rows between the dust and the sign row (d)", fontsize=8)
    left.set_ylabel("sign AUC on train levels\nP(map: signed dust > unsigned dust)", fontsize=8)
    left.set_title("the learned map tells signed from unsigned dust\nonly within its field "
                   "(dotted: d = L + 1/2)", fontsize=9)  # fmt: skip
    left.legend(fontsize=7, title="reward net layers", title_fontsize=7)
    x = table["reward_layers"].to_numpy(int)
    for m, label, c, dx in (
        ("deploy/score/learned", "base score, learned map", "C0", -0.12),
        ("deploy/cost/no proxy", "gain: proxy error removed", "C1", 0.0),
        ("deploy/cost/exact", "gain: exact base map", "C2", 0.12),
    ):
        lo, hi = ci_columns(m)
        y = table[m].to_numpy(float)
        right.errorbar(x + dx, y, yerr=interval_errors(y, table[lo], table[hi]), color=c,
                       marker="o", ms=4, capsize=2, label=label)  # fmt: skip
    right.axhline(0, c="k", lw=0.6)
    right.set_xticks(x, [f"{n}\n({2 * n + 1}x{2 * n + 1})" for n in x])
    right.set_xlabel("reward net: 3x3 conv layers L (receptive field)", fontsize=8)
    right.set_ylabel("deploy base score (1 = optimum, 0 = random)\nand its gain when corrected",
                     fontsize=8)  # fmt: skip
    right.set_title("deploy (most columns unsigned): what the error costs", fontsize=9)
    right.legend(fontsize=7)
    seeds = sorted({int(n) for n in table["seeds"]})
    n_text = f"n = {seeds[0]}" if len(seeds) == 1 else f"n = {seeds[0]}-{seeds[-1]}"
    steps = int(table["steps"].iloc[0])
    fig.suptitle(
        f"Signpost planner (K = {int(table['plan_steps'].iloc[0])}, {steps:,} steps, "
        f"trained at signed fraction 0.75, deployed at 0.25): approximate alignment from "
        f"the reward net's field\nmean over {n_text} seeds per point; whiskers: 95% t-interval "
        "over seeds; AUC: signed vs unsigned dust cells at one distance, pooled over the train levels",
        fontsize=9,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default=PRESETS[0], help=f"one of {', '.join(PRESETS)}")
    p.add_argument("--capacities", default="1,2,3,4,5", help="reward_layers values, e.g. 1,3")
    p.add_argument("--seeds", type=int, default=5, help="seeds per capacity (>= 5 for a claim)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: preset's)")
    p.add_argument("--levels", type=int, default=200, help="evaluation levels per split")
    p.add_argument("--workers", type=int, default=1, help="local training processes")
    p.add_argument("--out", default="runs/e09_capacity", help="folder of the run folders")
    args = p.parse_args(argv)
    try:
        if args.preset not in PRESETS:
            raise ConfigError(f"preset: must be one of {', '.join(PRESETS)}, got {args.preset!r}")
        try:
            caps = [int(c) for c in args.capacities.split(",") if c.strip()]
        except ValueError:
            raise ConfigError(f"capacities: integers like 1,2,3, got {args.capacities!r}") from None
        if not caps or len(set(caps)) != len(caps):
            raise ConfigError(f"capacities: give distinct values, got {args.capacities!r}")
        if args.levels < 1 or (args.steps is not None and args.steps < 1):
            raise ConfigError("steps and levels must be positive")
        extra = {} if args.steps is None else {"total_steps": args.steps}
        knob = TASKS[TASK].shift.knob_default
        plans = [
            (
                n,
                sweep_configs(
                    args.preset, [knob], args.seeds, args.workers, reward_layers=n, **extra
                ),
            )  # fmt: skip
            for n in caps
        ]
        preset(args.preset)  # (the preset's own fields checked too)
        out = check_out_folder(
            "--out", args.out, [RUNS, CELLS, *figure_files(FIGURE)],
            ["capacity", *[f"L{n}" for n in caps]],
        )  # fmt: skip
    except (ConfigError, ValueError) as e:
        return fail("e09_capacity", e)
    jobs = []
    for n, configs in plans:
        run_sweep(configs, out / f"L{n}", workers=args.workers, baselines=False, stream=sys.stderr)
        runs = [r for r in finished_runs(out / f"L{n}")[0] if read_config(r)["role"] == "trained"]
        jobs += [(run, out, n, args.levels) for run in runs[: args.seeds]]
    rows = parallel_map(
        _per_run, jobs, args.workers, [f"map error: {j[0].name} L={j[2]}" for j in jobs]
    )
    runs = pd.DataFrame(rows)
    table = cells(runs)
    finish(out, {RUNS: runs, CELLS: table}, lambda: figure(table, out / FIGURE), markdown(table))
    print(f"\nfigure {out / f'{FIGURE}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
