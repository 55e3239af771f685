"""The table of architectures: one row per network, each row the `Architecture` its file ends in.

    ARCHITECTURES            name -> Architecture (mlp, cnn, planner, recurrent, lstm)
    register_architecture    add a row (a new network is one file and this one call)
    make_agent               build a network by name, its options checked against its row
    set_budget               the same weights with another thinking budget (planner K, ticks)

Generic code (config, checkpoints, capability curves, thinking time, retargeting) iterates this
table and never names a network.
"""

from __future__ import annotations

from torch import nn

from mesaworld.agents import feedforward, lstm, planner, recurrent
from mesaworld.agents.architecture import MAX_HIDDEN, Architecture

ARCHITECTURES: dict[str, Architecture] = {}


def register_architecture(arch: Architecture) -> Architecture:
    """Add `arch` to the table (a name already taken by another row is an error)."""
    if arch.name in ARCHITECTURES and ARCHITECTURES[arch.name] is not arch:
        raise ValueError(f"architecture {arch.name!r} is registered already")
    ARCHITECTURES[arch.name] = arch
    return arch


for _row in (
    feedforward.MLP,
    feedforward.CNN,
    planner.ARCHITECTURE,
    recurrent.ARCHITECTURE,
    lstm.ARCHITECTURE,
):
    register_architecture(_row)


def get_architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ValueError(f"network must be one of {', '.join(ARCHITECTURES)}, got {name!r}")
    return ARCHITECTURES[name]


def make_agent(
    network: str, obs_shape: tuple[int, ...], n_actions: int, hidden: int, **options: object
) -> nn.Module:
    """The actor-critic `network` with its options (`channels` too where the row needs
    channel names). Bad options raise ValueError naming the option, before anything is built."""
    arch = get_architecture(network)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= MAX_HIDDEN:
        raise ValueError(f"hidden must be an integer in [1, {MAX_HIDDEN}], got {hidden!r}")
    plain = {k: v for k, v in options.items() if k != "channels"}
    if problem := arch.options_problem(plain):
        raise ValueError(problem)
    if arch.needs_channels:
        if "channels" not in options:
            raise ValueError(f"the {network} network needs the observation's channel names")
        plain["channels"] = tuple(options["channels"])  # type: ignore[arg-type]
    return arch.build(tuple(obs_shape), n_actions, hidden, **plain)


def set_budget(agent: nn.Module, network: str, budget: int) -> None:
    """Give `agent` (a `network`) another thinking budget; the weights do not change. A network
    without one, or a budget outside the option's range, is a ValueError naming it."""
    arch = get_architecture(network)
    if arch.budget is None:
        raise ValueError(f"a {network} agent has no thinking budget (feed-forward)")
    if problem := arch.option(arch.budget).problem(budget):
        raise ValueError(f"{arch.budget} {problem}")
    setattr(agent, arch.budget, int(budget))
