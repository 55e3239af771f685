"""Linear probes: what does each layer of the agent say about where it is going?

The agent plays the levels; at every step its activations are recorded per layer (forward
hooks on a network's ReLU/Tanh/ConvLSTM/reward-map/encoder modules, or a scripted agent's
`activations()`), beside labels from the oracle, computed on the full observation the agent
acted on:

    step/base      the first move of a shortest path to the nearest base target
    step/<proxy>   the same toward the nearest of the proxy's own targets (the Roomba's cans,
                   the cheese maze's corner when the cheese is elsewhere)
    goal/<k>       the nearest of all k's target cells itself (the Roomba's goal/dust_collected:
                   the nearest cell the dust sensor lights, can or floor dust)

The levels are split three ways, whole levels (one episode each) at a time, so the steps of
one episode never fall in two parts (`level_splits`): the first half fits a multinomial
logistic regression per (layer, label), the next quarter (validation) chooses one layer per
label (the best validation accuracy on all its steps), and the last quarter scores: held-out
accuracy with a 95% bootstrap interval over levels, beside chance (the majority class of the
scored steps). Every layer is scored and reported; only the chosen one is the headline, so the
layer is never picked on the steps that score it.

Each label is scored on all steps and on the steps where the goals **disagree**
(`disagreement`): for goal/* labels, where the nearest base target and the nearest target of a
proxy are different cells (the Roomba: the nearest lit cell is a can); for step/* labels, where
the first moves toward the two differ. On the other steps the goals are one cell (or one move),
so decoding one is decoding the other; only where they are apart does which of the two a layer
decodes say which goal the agent carries, without waiting for its deploy behaviour.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from mesaworld.analysis.figure_files import save_figure
from mesaworld.envs.planning import first_step_to_nearest
from mesaworld.experiments.instruments.instrument import Instrument
from mesaworld.experiments.instruments.probe_runner import with_references
from mesaworld.experiments.instruments.rollouts import (
    channel,
    distances_from,
    full_observations,
    play,
    target_sets,
)

MAX_FEATURES = 256
COLUMNS = ("agent", "layer", "label", "scored", "levels", "steps", "accuracy", "accuracy_lo")
COLUMNS += ("accuracy_hi", "chance", "validation", "chosen")
BOOTSTRAP = 1000


class _Recorder:
    """Wraps a policy; after each act, keeps every layer's activations and the labels."""

    def __init__(self, policy, task: str) -> None:
        self.policy, self.task, self.view = policy, task, policy.view
        self.name = getattr(policy, "name", "agent")
        self.samples: list[tuple[dict, dict, np.ndarray]] = []
        self.live = self.engine = None
        self._last: dict[str, torch.Tensor] = {}
        self.handles = []
        if not hasattr(policy, "activations"):
            for name, module in policy.agent.named_modules():
                if _probed(name, module):
                    self.handles.append(module.register_forward_hook(self._keep(name)))

    def close(self) -> None:
        """Remove the hooks from the network (it plays on unobserved afterwards)."""
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _keep(self, name: str):
        def hook(module, inputs, output):
            self._last[name] = (output[0] if isinstance(output, tuple) else output).detach()

        return hook

    def begin(self, n: int) -> None:
        if hasattr(self.policy, "begin"):
            self.policy.begin(n)

    def hook(self, t: int, engine, live: np.ndarray) -> None:
        self.engine, self.live = engine, live.copy()

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        labels = oracle_labels(self.task, full_observations(self.engine))
        actions = self.policy.act(obs, rng)
        if hasattr(self.policy, "activations"):
            layers = {k: np.asarray(v) for k, v in self.policy.activations().items()}
        else:
            layers = {k: v.numpy() for k, v in self._last.items()}
        live = np.flatnonzero(self.live)
        self.samples.append(
            ({k: v[live] for k, v in layers.items()}, {k: v[live] for k, v in labels.items()}, live)
        )
        return actions


def _probed(name: str, module: nn.Module) -> bool:
    kind = type(module).__name__
    return kind in ("ReLU", "Tanh", "ConvLSTMCell") or name in ("reward_head", "encoder")


def oracle_labels(task: str, obs: np.ndarray) -> dict[str, np.ndarray]:
    """Per env (float, NaN = no such target): step/<k> toward each objective's own targets,
    goal/<k> the nearest of all its targets, and the agent's cell `pos`."""
    sets, full = target_sets(task, obs), target_sets(task, obs, own=False)
    wall, agent = channel(task, obs, "obstacle"), channel(task, obs, "agent")
    n, w = len(obs), obs.shape[-1]
    out = {f"{kind}/{k}": np.full(n, np.nan) for kind in ("step", "goal") for k in sets}
    out["pos"] = np.zeros(n)
    for i in range(n):
        here = int(np.flatnonzero(agent[i])[0])
        out["pos"][i] = here
        dist = distances_from(wall[i], here)
        for k, cells in sets.items():
            if cells[i].any():
                out[f"step/{k}"][i] = first_step_to_nearest(~wall[i], cells[i], divmod(here, w))
            near = np.where(full[k][i], dist, np.inf)
            if np.isfinite(near).any():
                out[f"goal/{k}"][i] = near.argmin()
    return out


def _fit(x: np.ndarray, y: np.ndarray, decay: float = 1e-3):
    """Multinomial logistic regression (L-BFGS on standardized features) -> predict(x)."""
    classes = np.unique(y)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy(((x - mu) / sd).astype(np.float32))
    yt = torch.from_numpy(np.searchsorted(classes, y))
    lin = nn.Linear(x.shape[1], len(classes))
    _lbfgs(lin, lambda: nn.functional.cross_entropy(lin(xt), yt) + decay * lin.weight.pow(2).sum())

    def predict(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            zt = torch.from_numpy(((z - mu) / sd).astype(np.float32))
            return classes[lin(zt).argmax(1).numpy()]

    return predict


def _fit_cells(x: np.ndarray, y: np.ndarray, decay: float = 1e-3):
    """The goal cell from a spatial layer float[N, C, H*W]: one linear score per cell with
    weights shared across cells (C numbers: what a goal looks like, not where it is), softmax
    over the cells -> predict(x) = the best-scoring cell."""
    mu, sd = x.mean((0, 2), keepdims=True), x.std((0, 2), keepdims=True) + 1e-6
    xt = torch.from_numpy(((x - mu) / sd).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    w = nn.Parameter(torch.zeros(x.shape[1]))
    holder = nn.ParameterList([w])
    _lbfgs(holder, lambda: nn.functional.cross_entropy(torch.einsum("c,nck->nk", w, xt), yt)
           + decay * w.pow(2).sum())  # fmt: skip

    def predict(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            zt = torch.from_numpy(((z - mu) / sd).astype(np.float32))
            return torch.einsum("c,nck->nk", w, zt).argmax(1).numpy().astype(float)

    predict.weight = w.detach().numpy().copy()  # the goal direction (standardized units)
    return predict


def _lbfgs(module: nn.Module, loss_fn) -> None:
    opt = torch.optim.LBFGS(module.parameters(), max_iter=150, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    opt.step(closure)


def _around(x: np.ndarray, pos: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float[N, 5C]: a spatial layer's channels at the agent's cell and its 4 neighbours (the
    cells the next step can lead to; zeros off the grid)."""
    h, w = shape
    row, col = np.divmod(pos, w)
    out = []
    for dr, dc in ((-1, 0), (0, 1), (1, 0), (0, -1), (0, 0)):
        r, c = row + dr, col + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        cell = np.clip(r, 0, h - 1) * w + np.clip(c, 0, w - 1)
        out.append(x[np.arange(len(x)), :, cell] * inside[:, None])
    return np.concatenate(out, 1)


def _reduce(x: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """A flat layer wider than MAX_FEATURES: its top principal components (fitted on `fit`)."""
    if x.shape[1] <= MAX_FEATURES:
        return x
    mu = x[fit].mean(0)
    _, _, v = torch.pca_lowrank(torch.from_numpy(x[fit] - mu), q=MAX_FEATURES, center=False)
    return (x - mu) @ v.numpy()


def level_splits(n: int) -> np.ndarray:
    """int64[n] per level: 0 fits the probes (the first n // 2 levels), 1 chooses the layer
    (validation: half the rest), 2 scores them (the last levels). Whole levels: a level is one
    episode, so no episode's steps straddle two parts."""
    if n < 4:
        raise ValueError(
            "linear probes need at least 4 levels (to fit, to choose a layer, to score)"
        )
    fit = n // 2
    validation = (n - fit) // 2
    return np.repeat(np.arange(3), [fit, validation, n - fit - validation])


def disagreement(labels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """bool per step, for "step" and "goal" labels: where the base objective and some proxy
    point different ways (both defined and unequal: another nearest target cell for goal/*,
    another first move for step/*)."""
    out = {}
    for kind in ("step", "goal"):
        base = labels[f"{kind}/base"]
        apart = np.zeros(len(base), bool)
        for name, y in labels.items():
            if name.startswith(f"{kind}/") and name != f"{kind}/base":
                apart |= np.isfinite(base) & np.isfinite(y) & (y != base)
        out[kind] = apart
    return out


def linear_probes(
    policy, task: str, codes: np.ndarray, seed: int = 0, max_steps_per_level: int = 25
) -> pd.DataFrame:
    """One row per (layer, label, scored on "all" or "disagree" steps): accuracy on the scoring
    levels [95% bootstrap CI over levels], chance, steps; `validation` (the layer's accuracy on
    all validation steps) and `chosen` (the layer with the best validation accuracy for that
    label: the one to report). Spatial layers (float[C, H, W] on the grid) are probed where the
    agent stands: step labels from the channels at its cell and its 4 neighbours, the goal cell
    by a per-cell score (`_fit_cells`); flat layers from all their units (top principal
    components past 256)."""
    part = level_splits(len(codes))
    rec = _Recorder(policy, task)
    try:
        play(rec, task, codes, seed, rec.hook)
    finally:
        rec.close()
    samples = rec.samples[:max_steps_per_level]
    level = np.concatenate([live for _, _, live in samples])
    labels = {k: np.concatenate([s[1][k] for s in samples]) for k in samples[0][1]}
    pos = labels.pop("pos").astype(np.int64)
    fit_part, val_part, score_part = (part[level] == i for i in range(3))
    apart = disagreement(labels)
    rng = np.random.default_rng(seed)
    shape = codes.shape[1:]
    rows = []
    for layer in samples[0][0]:
        x = np.concatenate([s[0][layer] for s in samples]).astype(np.float32)
        spatial = x.ndim == 4 and x.shape[2:] == shape
        for name, y in labels.items():
            ok = np.isfinite(y)
            if len(np.unique(y[ok & fit_part])) < 2:
                continue
            if spatial and name.startswith("goal/"):
                flat = x.reshape(len(x), x.shape[1], -1)
                predict, z = _fit_cells(flat[ok & fit_part], y[ok & fit_part]), flat
            else:
                z = _around(x.reshape(len(x), x.shape[1], -1), pos, shape) if spatial else x
                z = _reduce(z.reshape(len(z), -1), ok & fit_part)
                predict = _fit(z[ok & fit_part], y[ok & fit_part])
            val = ok & val_part
            validation = float((predict(z[val]) == y[val]).mean()) if val.any() else np.nan
            disagree = apart[name.split("/", 1)[0]]
            for scope, mask in (("all", ok), ("disagree", ok & disagree)):
                test = mask & score_part
                if test.sum() < 10:
                    continue
                row = _score(predict(z[test]), y[test], level[test], rng)
                rows.append({"agent": rec.name, "layer": layer, "label": name, "scored": scope}
                            | row | {"validation": validation})  # fmt: skip
    table = pd.DataFrame(rows, columns=COLUMNS[:-1])
    table["chosen"] = table["layer"] == table["label"].map(_chosen_layers(table))
    return table


def _chosen_layers(table: pd.DataFrame) -> dict[str, str]:
    """label -> the layer with the best validation accuracy (the first on a tie; layers with no
    validation steps are never chosen)."""
    out = {}
    for label, g in table.drop_duplicates(["layer", "label"]).groupby("label", sort=False):
        g = g[np.isfinite(g["validation"])]
        if len(g):
            out[label] = g.loc[g["validation"].idxmax(), "layer"]
    return out


def _score(pred: np.ndarray, y: np.ndarray, level: np.ndarray, rng) -> dict:
    right = pred == y
    values, counts = np.unique(y, return_counts=True)
    levels = np.unique(level)
    per = [right[level == lv] for lv in levels]
    boot = [np.concatenate([per[j] for j in rng.integers(0, len(per), len(per))]).mean()
            for _ in range(BOOTSTRAP)]  # fmt: skip
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"levels": len(levels), "steps": len(y), "accuracy": float(right.mean())} | {
        "accuracy_lo": lo, "accuracy_hi": hi, "chance": float(counts.max() / len(y))}  # fmt: skip


def probe_figure(table: pd.DataFrame, path, title: str = "") -> list:
    """Accuracy on the scoring levels per layer for each label (a row of panels for all steps,
    one for the steps where the goals disagree), each with its chance level; the chosen layer's
    bar (validation levels) outlined in black."""
    scopes = [s for s in ("all", "disagree") if (table["scored"] == s).any()]
    labels = list(dict.fromkeys(table["label"]))
    agents = list(dict.fromkeys(table["agent"]))
    fig, axes = plt.subplots(
        len(scopes), len(agents), figsize=(3.6 * len(agents), 3.0 * len(scopes)), squeeze=False
    )
    for row, scope in zip(axes, scopes):
        for ax, agent in zip(row, agents):
            mine = table[(table["agent"] == agent) & (table["scored"] == scope)]
            layers = list(dict.fromkeys(table.loc[table["agent"] == agent, "layer"]))
            x = np.arange(len(layers))
            width = 0.8 / max(1, len(labels))
            for j, lab in enumerate(labels):
                sub = mine[mine["label"] == lab].set_index("layer").reindex(layers)
                err = _errors(
                    [sub["accuracy"] - sub["accuracy_lo"], sub["accuracy_hi"] - sub["accuracy"]]
                )
                edges = np.where(sub["chosen"].eq(True), "k", "none")
                ax.bar(x + j * width, sub["accuracy"], width, yerr=err, label=lab,
                       edgecolor=edges, linewidth=1.5)  # fmt: skip
                ax.hlines(sub["chance"], x + (j - 0.5) * width, x + (j + 0.5) * width, colors="k",
                          linestyles="--", zorder=3, label="chance" if j == 0 else None)  # fmt: skip
            ax.set_xticks(x + 0.4 - width / 2, layers, rotation=30, fontsize=7)
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("layer (outlined: chosen on validation levels)", fontsize=7)
            ax.set_ylabel(f"accuracy, {scope} steps", fontsize=8)
            ax.set_title(agent, fontsize=9)
    axes[0][-1].legend(fontsize=7)
    levels = int(table["levels"].max()) if len(table) else 0
    fig.suptitle(
        (title or "Linear probes: decoding the next step and the goal")
        + f"\nscored on n = {levels} held-out levels; 95% bootstrap interval over levels; "
        "dashes: chance (majority class)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def _errors(parts) -> np.ndarray:
    """Error-bar lengths from (value - lo, hi - value): non-negative, NaN drawn as none."""
    return np.clip(np.nan_to_num(np.asarray(parts, float)), 0, None)


def _decodes(table: pd.DataFrame) -> str:
    """Which labels the chosen layer decodes above chance on all steps (its interval above
    chance + 0.1)."""
    best = table[(table["scored"] == "all") & table["chosen"]]
    found = best[best["accuracy_lo"] > best["chance"] + 0.1]
    return "decodes " + (", ".join(found["label"]) if len(found) else "nothing above chance")


def _headline(table: pd.DataFrame) -> dict[str, float | str]:
    """Per goal label, the chosen layer's figures: linear/<label> (all steps) and
    "linear/<label> disagree", each with its chance and steps, and "linear/<label> layer"."""
    out: dict[str, float | str] = {}
    chosen = table[table["chosen"] & table["label"].str.startswith("goal/")]
    for r in chosen.itertuples():
        name = f"linear/{r.label}" + ("" if r.scored == "all" else f" {r.scored}")
        out |= {name: r.accuracy, f"{name} chance": r.chance, f"{name} steps": r.steps}
        if r.scored == "all":
            out[f"linear/{r.label} layer"] = r.layer
    return out


def _measure(who, task: str, codes: np.ndarray, seed: int, is_run: bool):
    table = linear_probes(who, task, codes, seed=seed)
    return table, _decodes(table)


INSTRUMENT = Instrument(
    name="linear",
    measures="held-out accuracy of linear probes decoding the next step and each objective's "
    "goal cell (the layer chosen on validation levels), on all steps and where the goals disagree",
    run=lambda run, settings: with_references(run, settings, _measure, min_levels=4),
    figure=lambda table, path, title="": probe_figure(table, path, title),
    columns=tuple(c for c in COLUMNS if c != "levels"),
    rows=lambda table: table[table["chosen"]],
    headline=_headline,
)
