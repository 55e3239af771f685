"""What an architecture declares: `Architecture` (one row of `mesaworld.agents.registry`) and
its `Option`s.

A network file defines its `nn.Module` and ends in one `Architecture` value (tests/
test_one_file_extensions.py adds one in a test file); generic code
(config, checkpoints, capability curves, thinking time, retargeting) reads these rows and never
names a network. An architecture says:

    name            the --network value and agent.json's "network"
    build           build(obs_shape, n_actions, hidden, **options) -> nn.Module
    views           the observation views it can take ("full" (C, H, W), "egocentric")
    options         constructor options beyond the shape and width, each with its type and
                    valid range (checked in configs and again when a checkpoint loads)
    budget          the option that is a thinking budget changeable at test time with the same
                    weights (the planner's K, the recurrent agent's ticks); None for a
                    feed-forward net. The module holds it as an attribute of the same name.
    recurrent       a memory: trained on whole env sequences (`initial_memory`, `step`, `unroll`)
    needs_channels  the constructor takes the observation's channel names (`channels=`)
    reward_map      its objective is an explicit learned reward map (`reward_map(obs)`,
                    `reward_edit`): the readout reads it and retargeting edits it
    spatial         keeps a (C, H, W) layer on the grid, into which a linear goal probe's
                    direction can be written (steering: retargeting without a reward map)

The module's interface (obs: uint8[B, *obs_shape] tensors): a feed-forward network has
`get_value(obs) -> value[B]`, `logits(obs) -> float[B, A]` and
`get_action_and_value(obs, action=None, generator=None) -> (action, logprob, entropy, value)`;
a recurrent one has `recurrent = True`, `initial_memory(B)`, `step(obs, memory, first) ->
(logits, value, memory)` and `unroll(obs[T, B], memory0, first[T, B]) -> (logits, values)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

MAX_HIDDEN = 4096  # wider than any net here needs; far beyond it an allocation fails untidily


@dataclass(frozen=True)
class Option:
    """One constructor option: a name (the config field and agent.json key), its type and
    bounds. `lo`/`hi` are inclusive unless `open_bounds` (then exclusive)."""

    name: str
    type: type
    lo: float | None = None
    hi: float | None = None
    open_bounds: bool = False
    doc: str = ""

    def problem(self, value: object) -> str | None:
        """None if `value` is valid, else what is wrong with it (one phrase)."""
        if self.type is bool:
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        numeric = (int,) if self.type is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return f"must be {'an integer' if self.type is int else 'a number'}, got {value!r}"
        if not math.isfinite(value):
            return f"must be finite, got {value!r}"
        lo, hi = self.lo, self.hi
        if self.open_bounds:
            if (lo is not None and value <= lo) or (hi is not None and value >= hi):
                return f"must be in ({lo:g}, {hi:g}), got {value!r}"
        elif (lo is not None and value < lo) or (hi is not None and value > hi):
            return f"must be in [{lo:g}, {hi:g}], got {value!r}"
        return None


@dataclass(frozen=True)
class Architecture:
    """One network: how to build it and what generic code may assume (module docstring)."""

    name: str
    build: Callable[..., nn.Module]
    doc: str
    views: tuple[str, ...] = ("full", "egocentric")
    options: tuple[Option, ...] = ()
    budget: str | None = None
    recurrent: bool = False
    needs_channels: bool = False
    reward_map: bool = False
    spatial: bool = False

    def __post_init__(self) -> None:
        names = [o.name for o in self.options]
        if self.budget is not None and self.budget not in names:
            raise ValueError(f"architecture {self.name!r}: budget {self.budget!r} is no option")
        if len(set(names)) != len(names) or "channels" in names:
            raise ValueError(f"architecture {self.name!r}: option names must be unique")

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def options_problem(self, options: dict) -> str | None:
        """None if `options` (agent.json's, without channels) are this network's and valid,
        else what is wrong, naming the option."""
        known = {o.name for o in self.options}
        for key in sorted(set(options) - known):
            return (
                f"{self.name} has no option {key!r} (known: {', '.join(sorted(known)) or 'none'})"
            )
        for o in self.options:
            if o.name in options and (why := o.problem(options[o.name])):
                return f"{o.name} {why}"
        return None
