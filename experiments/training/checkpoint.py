"""Checkpoints in a run folder: the agent (tensors + a JSON description) and the training state.

Everything is loaded with `torch.load(weights_only=True)`: a checkpoint cannot execute code. A
corrupt or foreign file is one line (`CheckpointError`) naming the file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from mesaworld.agents.architecture import MAX_HIDDEN
from mesaworld.agents.registry import ARCHITECTURES, make_agent
from mesaworld.analysis.runfolder import (
    AGENT_FILE,
    AGENT_META,
    CONFIG,
    TRAIN_STATE,
    RunFolderError,
    atomic_write_bytes,
    atomic_write_text,
    read_json,
)
from mesaworld.envs.registry import TASKS
from mesaworld.envs.task import VIEWS


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or does not match its description."""


def save_agent(agent: torch.nn.Module, folder: Path, meta: dict) -> None:
    """Write `agent.pt` (a state dict of tensors) and `agent.json` (how to rebuild it: network,
    obs_shape, n_actions, hidden, and anything else JSON-able)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in agent.state_dict().items()}, buf)
    atomic_write_bytes(Path(folder) / AGENT_FILE, buf.getvalue())
    atomic_write_text(Path(folder) / AGENT_META, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_agent(folder: Path) -> tuple[torch.nn.Module, dict]:
    """Rebuild an agent saved by `save_agent`. Tensors only (`weights_only=True`): a checkpoint
    cannot execute code. agent.json is checked against its architecture's declared options and
    ranges and, where the folder has a config.json, against the config that trained it, so no
    edited description can stand in for the agent that was trained. Raises CheckpointError
    naming the problem."""
    folder = Path(folder)
    try:
        meta = read_json(folder / AGENT_META)
    except RunFolderError as e:
        raise CheckpointError(str(e)) from None
    _check_agent_meta(meta, folder / AGENT_META)
    options = agent_meta_options(meta)
    try:
        agent = make_agent(meta["network"], tuple(meta["obs_shape"]), 5, meta["hidden"], **options)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / AGENT_META}: cannot rebuild the network ({e})") from None
    path = folder / AGENT_FILE
    if not path.is_file():
        raise CheckpointError(f"no checkpoint {path}")
    try:
        agent.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception:  # torch raises several types for truncated, foreign or mismatched files
        raise CheckpointError(
            f"corrupt checkpoint {path}: damaged, or not the network {AGENT_META} describes; "
            "re-train the run"
        ) from None
    agent.eval()
    return agent, meta


def agent_meta_options(meta: dict) -> dict:
    """The constructor options agent.json stores under the network's name ({} for none)."""
    options = dict(meta.get(meta["network"], {}))
    if "channels" in options:
        options["channels"] = tuple(options["channels"])
    return options


def agent_options(cfg, spec) -> dict:
    """The network's constructor options beyond the shape and width, from a config (JSON-able:
    stored in agent.json under the network's name; {} for a network without options). Each
    declared option comes from the config field of the same name (its default where the config
    has none: an architecture added without a config field)."""
    arch = ARCHITECTURES[cfg.network]
    out: dict = {}
    if arch.needs_channels:
        out["channels"] = list(spec.rules(cfg.view).obs_channels)
    for option in arch.options:
        if hasattr(cfg, option.name):
            out[option.name] = getattr(cfg, option.name)
    return out


def _check_agent_meta(meta: dict, path: Path) -> None:
    """agent.json must describe a network this mesaworld builds (one line naming the field),
    with options in their declared ranges, agreeing with the run's config.json if there is one."""

    def positive_int(x: object, hi: int | None = None) -> bool:
        ok = isinstance(x, int) and not isinstance(x, bool) and x >= 1
        return ok and (hi is None or x <= hi)

    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: not a JSON object")
    checks = {
        "network": meta.get("network") in ARCHITECTURES,
        "hidden": positive_int(meta.get("hidden"), MAX_HIDDEN),
        "n_actions": meta.get("n_actions") == 5,
        "obs_shape": isinstance(meta.get("obs_shape"), list)
        and len(meta["obs_shape"]) == 3
        and all(positive_int(x, 10_000) for x in meta["obs_shape"]),
        "view": meta.get("view") in VIEWS,
    }
    for field, ok in checks.items():
        if not ok:
            raise CheckpointError(
                f"{path}: field {field!r} is missing or invalid ({meta.get(field)!r})"
            )
    arch = ARCHITECTURES[meta["network"]]
    stored = meta.get(arch.name, {})
    if not isinstance(stored, dict):
        raise CheckpointError(f"{path}: field {arch.name!r} must be an object of options")
    problem = arch.options_problem({k: v for k, v in stored.items() if k != "channels"})
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    if meta["view"] not in arch.views:
        raise CheckpointError(f"{path}: a {arch.name} network cannot take the {meta['view']} view")
    _check_against_config(meta, stored, path)


def _check_against_config(meta: dict, stored: dict, path: Path) -> None:
    """Where the run folder has a config.json, agent.json must describe the network it trained."""
    config_path = path.parent / CONFIG
    if not config_path.is_file():
        return
    try:
        run = read_json(config_path)
    except RunFolderError as e:
        raise CheckpointError(str(e)) from None
    cfg = run.get("config") if isinstance(run, dict) else None
    if not isinstance(cfg, dict):
        return  # a baseline or foreign folder: nothing trained to compare with
    expected = {"task": run.get("task"), "network": cfg.get("network"), "hidden": cfg.get("hidden")}
    expected["view"] = cfg.get("view")
    for key, value in expected.items():
        if value is not None and meta.get(key) != value:
            raise CheckpointError(
                f"{path}: {key} {meta.get(key)!r} disagrees with {CONFIG} ({value!r}): "
                "not the agent this run trained"
            )
    for key, value in stored.items():
        if key != "channels" and key in cfg and cfg[key] != value:
            raise CheckpointError(
                f"{path}: {key} {value!r} disagrees with {CONFIG} ({cfg[key]!r}): "
                "not the agent this run trained"
            )
    spec = TASKS.get(run.get("task"))
    if spec is not None:
        shape = list(spec.rules(meta["view"]).obs_shape)
        if meta["obs_shape"] != shape:
            raise CheckpointError(
                f"{path}: obs_shape {meta['obs_shape']} is not the {run['task']} task's "
                f"{meta['view']} view {shape}"
            )


def save_train_state(folder: Path, state: dict) -> None:
    """Write `train_state.pt` (tensors, numbers and strings only)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(folder) / TRAIN_STATE, buf.getvalue())


def load_train_state(folder: Path) -> dict | None:
    """The saved training state, or None if there is none (interrupted before a checkpoint)."""
    path = Path(folder) / TRAIN_STATE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises several types for truncated or foreign files
        state = None
    if not isinstance(state, dict) or "update" not in state:
        raise CheckpointError(
            f"cannot resume {folder}: {TRAIN_STATE} is corrupt or not a mesaworld training state; "
            "remove the run folder to start over"
        )
    return state


def env_state_to_tensors(state: dict) -> dict:
    """An env's `state_dict` (numpy arrays) as tensors, the form a training state holds."""
    out = {k: torch.from_numpy(v) for k, v in state.items() if k not in ("state", "rngs")}
    out["state"] = {k: torch.from_numpy(v) for k, v in state["state"].items()}
    out["rngs"] = state["rngs"]
    return out


def env_state_from_tensors(saved: dict) -> dict:
    """Inverse of `env_state_to_tensors`."""
    out = {k: v.numpy() for k, v in saved.items() if k not in ("state", "rngs")}
    out["state"] = {k: v.numpy() for k, v in saved["state"].items()}
    out["rngs"] = saved["rngs"]
    return out
