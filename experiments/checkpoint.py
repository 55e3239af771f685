"""Checkpoints in a run folder: the agent (tensors + a JSON description) and the training state.

Everything is loaded with `torch.load(weights_only=True)`: a checkpoint cannot execute code. A
corrupt or foreign file is one line (`CheckpointError`) naming the file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from agents.ppo import make_agent
from experiments.runfolder import (
    AGENT_FILE,
    AGENT_META,
    TRAIN_STATE,
    RunFolderError,
    atomic_write_bytes,
    atomic_write_text,
    read_json,
)


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
    cannot execute code. Raises CheckpointError naming the problem."""
    folder = Path(folder)
    try:
        meta = read_json(folder / AGENT_META)
        agent = make_agent(
            meta["network"], tuple(meta["obs_shape"]), int(meta["n_actions"]), int(meta["hidden"])
        )
    except (RunFolderError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"bad checkpoint description {folder / AGENT_META}: {e}") from None
    path = folder / AGENT_FILE
    if not path.is_file():
        raise CheckpointError(f"no checkpoint {path}")
    try:
        agent.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # torch raises several types for truncated, foreign or mismatched files
        raise CheckpointError(f"corrupt checkpoint {path}: {_first_line(e)}") from None
    agent.eval()
    return agent, meta


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


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
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"cannot resume {folder}: {TRAIN_STATE} is corrupt ({_first_line(e)}); "
            "remove the run folder to start over"
        ) from None
