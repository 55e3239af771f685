"""Run folders on disk: atomic writes, provenance (package versions, git commit), the file names.

A run folder holds:
    config.json      the TrainConfig (or the baseline's description), versions, git commit
    train_log.csv    one row per PPO update (learning curves); absent for baselines
    agent.pt/.json   the checkpoint: tensors only (loaded with weights_only=True) + how to rebuild
    train_state.pt   optimizer, random streams and env state, for `--resume` (deleted when done)
    episodes.csv     one row per evaluation episode (written last: its presence means finished)
    eval_<split>.npz, eval.json   evaluation arrays (visits, frames) and settings
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import torch

from agents.ppo import make_agent

CONFIG, TRAIN_LOG, EPISODES, TRAIN_STATE = (
    "config.json",
    "train_log.csv",
    "episodes.csv",
    "train_state.pt",
)


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (exists, incomplete, not a run)."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + os.replace: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} does not hold a JSON object")
    return data


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("mesaworld", "numpy", "torch", "gymnasium"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def git_commit() -> str | None:
    """The commit of the mesaworld checkout this code runs from (None outside git), with
    '-dirty' if it has uncommitted changes."""
    here = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict:
    return {"versions": versions(), "git_commit": git_commit()}


def is_run(folder: Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def is_finished(folder: Path) -> bool:
    return (Path(folder) / EPISODES).is_file()


# --- checkpoints ----------------------------------------------------------------------------
AGENT_FILE, AGENT_META = "agent.pt", "agent.json"


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
