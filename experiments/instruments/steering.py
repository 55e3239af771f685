"""Retargeting a network that has no explicit objective: write a decoded goal into its
activations.

A linear goal probe (`mesaworld.experiments.instruments.linear_probes._fit_cells`) on a spatial layer (float[C, H, W]
on the grid: the CNN's convolutions, the recurrent agent's ConvLSTM state) learns one direction
w in channel space whose score at a cell says "this is where I am going". To retarget, a
forward hook adds `strength` x that direction (in units of each channel's spread) at the new
target cell of that layer's output, at every forward pass (every tick, for the recurrent
agent). The network's own downstream computation has to turn it into movement: success here,
unlike for the planner's explicit reward map, is evidence that the network represents a goal
and pursues it. Default strength 10 spreads: on the Roomba's recurrent agent (seed 0, 96 deploy
levels, top ConvLSTM layer) strength 3 / 10 / 30 reached the new cell 36% / 55% / 65% of the
time against 27% unedited. Caveat: the probe's direction is "what the nearest floor dust looks
like" in that layer; writing it may read to the network as "dust here" (an edited world model)
rather than "go here" (an edited goal). For a pursuer of dust the two coincide.
"""

from __future__ import annotations

import numpy as np
import torch

from mesaworld.experiments.instruments.linear_probes import _fit_cells, _Recorder
from mesaworld.experiments.instruments.rollouts import play


def goal_direction(policy, task: str, codes: np.ndarray, layer: str, seed: int = 0):
    """float[C]: the goal probe's direction on `layer`, in raw units (one spread per channel)."""
    rec = _Recorder(policy, task)
    try:
        play(rec, task, codes, seed, rec.hook)
    finally:
        rec.close()
    x = np.concatenate([s[0][layer] for s in rec.samples]).astype(np.float32)
    y = np.concatenate([s[1]["goal/base"] for s in rec.samples])
    if x.ndim != 4 or tuple(x.shape[2:]) != tuple(codes.shape[1:]):
        raise ValueError(f"layer {layer!r} is not a map over the grid: cannot write a goal in it")
    ok = np.isfinite(y)
    if ok.sum() < 10:
        raise ValueError("too few steps with a goal to fit the goal probe")
    flat = x.reshape(len(x), x.shape[1], -1)[ok]
    predict = _fit_cells(flat, y[ok])
    w, sd = predict.weight, flat.std((0, 2)) + 1e-6
    return sd * w / np.linalg.norm(w)


class SteeredPolicy:
    """A trained network's policy (`mesaworld.experiments.training.evaluate.TorchPolicy`) with `retarget(cells)`
    (module docstring). `layer`: a spatial layer's module name (default: the last one)."""

    def __init__(
        self, policy, task: str, codes: np.ndarray, layer: str | None = None, strength=10.0
    ) -> None:
        self.policy, self.view, self.strength = policy, policy.view, float(strength)
        self.name = f"{getattr(policy, 'name', 'network')} (activations steered)"
        modules = dict(policy.agent.named_modules())
        candidates = [n for n in _map_layers(policy, task, codes[:1]) if n in modules]
        if not candidates:
            raise ValueError(
                f"{self.name}: no layer is a map over the grid (an MLP on a flattened view): "
                "there is no cell to write a goal into"
            )
        self.layer = layer or candidates[-1]
        if self.layer not in candidates:
            raise ValueError(f"layer {self.layer!r}: not a spatial layer; known: {candidates}")
        direction = goal_direction(policy, task, codes, self.layer)
        self.direction = torch.from_numpy(np.asarray(direction, np.float32))
        self.cells = None
        modules[self.layer].register_forward_hook(self._steer)

    def _steer(self, module, inputs, output):
        if self.cells is None:
            return None
        h = output[0] if isinstance(output, tuple) else output
        b, c = h.shape[:2]
        flat = h.reshape(b, c, -1).clone()
        rows = torch.nonzero(self.cells >= 0).squeeze(1)
        flat[rows, :, self.cells[rows]] += self.strength * self.direction
        h = flat.view_as(h)
        return (h, *output[1:]) if isinstance(output, tuple) else h

    def begin(self, n: int) -> None:
        self.policy.begin(n)

    def retarget(self, cells: np.ndarray | None) -> None:
        self.cells = None if cells is None else torch.as_tensor(np.asarray(cells, np.int64))

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.policy.act(obs, rng)


def _map_layers(policy, task: str, codes: np.ndarray) -> list[str]:
    """The probed layers whose output on one level is float[1, C, H, W] on the grid."""
    rec = _Recorder(policy, task)
    try:
        play(rec, task, codes, 0, rec.hook)
    finally:
        rec.close()
    shape = tuple(codes.shape[1:])
    first = rec.samples[0][0]
    return [k for k, v in first.items() if v.ndim == 4 and tuple(v.shape[2:]) == shape]
