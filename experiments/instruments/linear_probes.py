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

A multinomial logistic regression per (layer, label) is fitted on the first half of the levels
and scored on the other half: held-out accuracy with a 95% bootstrap interval over levels,
beside chance (the majority class of the held-out steps). `disagree` restricts scoring to
steps where step/base and step/<proxy> differ: there, which of the two a layer decodes is the
early warning. A representation that already points at the proxy on levels where the goals
are apart says which goal the agent carries, without waiting for its deploy behaviour.
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


def linear_probes(
    policy, task: str, codes: np.ndarray, seed: int = 0, max_steps_per_level: int = 25
) -> pd.DataFrame:
    """One row per (layer, label, scored on): held-out accuracy [95% CI], chance, steps.
    Spatial layers (float[C, H, W] on the grid) are probed where the agent stands: step labels
    from the channels at its cell and its 4 neighbours, the goal cell by a per-cell score
    (`_fit_cells`); flat layers from all their units (top principal components past 256)."""
    if len(codes) < 4:
        raise ValueError("linear probes need at least 4 levels (half to fit, half to score)")
    rec = _Recorder(policy, task)
    try:
        play(rec, task, codes, seed, rec.hook)
    finally:
        rec.close()
    samples = rec.samples[:max_steps_per_level]
    level = np.concatenate([live for _, _, live in samples])
    labels = {k: np.concatenate([s[1][k] for s in samples]) for k in samples[0][1]}
    pos = labels.pop("pos").astype(np.int64)
    fit_part = level < len(codes) // 2
    proxies = [k for k in labels if k.startswith("step/") and k != "step/base"]
    disagree = np.zeros(len(level), bool)
    for k in proxies:
        disagree |= np.isfinite(labels[k]) & (labels[k] != labels["step/base"])
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
            for scope, mask in (("all", ok), ("disagree", ok & disagree)):
                test = mask & ~fit_part
                if test.sum() < 10:
                    continue
                row = _score(predict(z[test]), y[test], level[test], rng)
                rows.append({"agent": rec.name, "layer": layer, "label": name, "scored": scope}
                            | row)  # fmt: skip
    return pd.DataFrame(rows)


def _score(pred: np.ndarray, y: np.ndarray, level: np.ndarray, rng) -> dict:
    right = pred == y
    values, counts = np.unique(y, return_counts=True)
    levels = np.unique(level)
    per = [right[level == lv] for lv in levels]
    boot = [np.concatenate([per[j] for j in rng.integers(0, len(per), len(per))]).mean()
            for _ in range(BOOTSTRAP)]  # fmt: skip
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"steps": len(y), "accuracy": float(right.mean()), "accuracy_lo": lo}  | {
        "accuracy_hi": hi, "chance": float(counts.max() / len(y))}  # fmt: skip


def probe_figure(table: pd.DataFrame, path, title: str = "") -> list:
    """Held-out accuracy per layer for each label (scored on all steps), chance dashed."""
    part = table[table["scored"] == "all"]
    labels = list(dict.fromkeys(part["label"]))
    agents = list(dict.fromkeys(part["agent"]))
    fig, axes = plt.subplots(1, len(agents), figsize=(3.6 * len(agents), 3.3), squeeze=False)
    for ax, agent in zip(axes[0], agents):
        mine = part[part["agent"] == agent]
        layers = list(dict.fromkeys(mine["layer"]))
        x = np.arange(len(layers))
        width = 0.8 / max(1, len(labels))
        for j, lab in enumerate(labels):
            sub = mine[mine["label"] == lab].set_index("layer").reindex(layers)
            err = _errors(
                [sub["accuracy"] - sub["accuracy_lo"], sub["accuracy_hi"] - sub["accuracy"]]
            )
            ax.bar(x + j * width, sub["accuracy"], width, yerr=err, label=lab)
            ax.scatter(x + j * width, sub["chance"], marker="_", c="k", s=80, zorder=3)
        ax.set_xticks(x + 0.4 - width / 2, layers, rotation=30, fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(agent, fontsize=9)
    axes[0][0].set_ylabel("held-out accuracy (-: chance)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(title or "Linear probes: decoding the next step and the goal", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def _errors(parts) -> np.ndarray:
    """Error-bar lengths from (value - lo, hi - value): non-negative, NaN drawn as none."""
    return np.clip(np.nan_to_num(np.asarray(parts, float)), 0, None)


def _decodes(table: pd.DataFrame) -> str:
    """Which labels some layer decodes above chance (interval above chance + 0.1)."""
    part = table[table["scored"] == "all"]
    best = part.loc[part.groupby("label")["accuracy_lo"].idxmax()]
    found = best[best["accuracy_lo"] > best["chance"] + 0.1]
    return "decodes " + (", ".join(found["label"]) if len(found) else "nothing above chance")


def _headline(table: pd.DataFrame) -> dict[str, float]:
    goals = table[(table["scored"] == "all") & table["label"].str.startswith("goal/")]
    return {f"linear/{k}": float(g["accuracy"].max()) for k, g in goals.groupby("label")}


def _measure(who, task: str, codes: np.ndarray, seed: int, is_run: bool):
    table = linear_probes(who, task, codes, seed=seed)
    return table, _decodes(table)


INSTRUMENT = Instrument(
    name="linear",
    measures="held-out accuracy of linear probes decoding the next step and each objective's "
    "goal cell, per layer",
    run=lambda run, settings: with_references(run, settings, _measure, min_levels=4),
    figure=lambda table, path, title="": probe_figure(table, path, title),
    columns=("agent", "layer", "label", "scored", "steps", "accuracy", "accuracy_lo")
    + ("accuracy_hi", "chance"),
    rows=lambda table: table[table["scored"] == "all"],
    headline=_headline,
)
