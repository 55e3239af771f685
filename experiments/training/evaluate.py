"""Evaluation on fixed train and deploy level sets, written as tidy files into a run folder.

Every run is scored on the same levels: a split's evaluation set is drawn from `eval_seed` alone
(the train set at the shift's default knob, whatever knob the run trained with), one episode per
level, all levels stepped as one batch. A policy is any object with

    view: str                                   "full" or "egocentric"
    act(obs: uint8[B, C, H, W], rng) -> int64[B]

(`TorchPolicy` wraps a trained network, `PlannerPolicy` a scripted planner, `RandomPolicy` picks
uniformly.) Files written (atomically):

    episodes.csv     one row per episode: split, level, eval_seed, length, the return under every
                     objective (`return/<name>`), every measure (`measure/<name>`), the level's
                     `count/<name>` of the objects the task counts and `optimal/<objective>` (the oracle; NaN = unknown)
    eval_<split>.npz levels uint8[n, H, W] (char codes), visits int32[n, H, W] (agent positions),
                     actions int8[n, max_steps] (each episode's actions, -1 after its end: the
                     episode replays exactly, e.g. on `mesaworld.envs.tabular`, for inverse RL),
                     frames_<i> uint8[T, H, W] (the level as it was at every step, first episodes)
    eval.json        the evaluation settings
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mesaworld.analysis.runfolder import (
    COUNT,
    EPISODES,
    EVAL_SETTINGS,
    MEASURE,
    OPTIMAL,
    RETURN,
    RunFolderError,
    csv_text,
    eval_arrays,
    exclusive,
    publish,
    read_config,
)
from mesaworld.envs.engine import engine_bytes, require_memory
from mesaworld.envs.generators import SPLITS
from mesaworld.envs.gym_env import make_engine
from mesaworld.envs.registry import get_task
from mesaworld.experiments.training.checkpoint import load_agent
from mesaworld.experiments.training.config import ConfigError

N_FRAMES = 4  # episodes per split whose every step is kept for GIFs


@dataclass(frozen=True)
class EvalSettings:
    """Which fixed level sets a run is scored on: `levels` per split drawn from `eval_seed`."""

    eval_seed: int
    levels: int
    greedy: bool = False

    def __post_init__(self) -> None:
        for name, lo in (("eval_seed", 0), ("levels", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
                raise ConfigError(f"{name}: must be an integer >= {lo}, got {value!r}")
        if not isinstance(self.greedy, bool):
            raise ConfigError(f"greedy: must be true or false, got {self.greedy!r}")


def check_eval_size(task: str, settings: EvalSettings, view: str = "full") -> None:
    """Refuse, before any work, an evaluation that would not fit in memory (one line)."""
    spec = get_task(task)
    rules = spec.rules(view)
    n, cells = settings.levels, rules.n_cells
    per_level = 8 * spec.shift.train.n_uniforms + 8 * cells + spec.max_steps  # draws, visits
    per_level += 2 * int(np.prod(rules.obs_shape)) + 64 * (len(spec.objectives) + 8)  # obs, row
    require_memory(
        engine_bytes(rules, n) + n * per_level, f"evaluating {n:,} levels per split of {task}"
    )


def eval_levels(
    task: str, split: str, n: int, eval_seed: int, knob: float | None = None
) -> np.ndarray:
    """The fixed evaluation set: uint8[n, H, W] level codes, drawn from `eval_seed` alone.
    Train levels use the shift's default knob (the same set for every run) unless `knob` is
    given (the in-context curves play each run's own training distribution)."""
    shift = get_task(task).shift
    generator = shift.generator(split, knob)
    stream = np.random.default_rng(
        np.random.SeedSequence(eval_seed, spawn_key=(SPLITS.index(split),))
    )
    return generator.build(stream.random((n, generator.n_uniforms)))


class TorchPolicy:
    """A trained actor-critic: sampled actions (default) or argmax. A recurrent agent keeps its
    memory between calls; `begin(n)` starts n new episodes (evaluation calls it per batch)."""

    def __init__(self, agent: torch.nn.Module, view: str, greedy: bool = False) -> None:
        self.agent, self.view, self.greedy = agent, view, greedy
        self.name = "ppo"
        self.memory = self.first = None

    def begin(self, n: int) -> None:
        if getattr(self.agent, "recurrent", False):
            self.memory = self.agent.initial_memory(n)
            self.first = torch.ones(n, dtype=torch.bool)

    @torch.no_grad()
    def logits(self, obs: np.ndarray) -> torch.Tensor:
        """The policy's logits on this step's observations (advances a recurrent memory)."""
        if not getattr(self.agent, "recurrent", False):
            return self.agent.logits(torch.from_numpy(obs))
        if self.memory is None or len(self.memory) != len(obs):
            self.begin(len(obs))
        logits, _, self.memory = self.agent.step(torch.from_numpy(obs), self.memory, self.first)
        self.first = torch.zeros(len(obs), dtype=torch.bool)
        return logits

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        logits = self.logits(obs)
        if self.greedy:
            return logits.argmax(-1).numpy()
        # Gumbel-max sampling from a numpy stream: the evaluation seed decides every action.
        gumbel = -np.log(-np.log(rng.random(logits.shape)))
        return (logits.numpy() + gumbel).argmax(-1)


class PlannerPolicy:
    """A scripted planner (a task's `Anchors`, `mesaworld.envs.planning`) acting on each env's full observation."""

    view = "full"

    def __init__(self, planner) -> None:
        self.planner, self.name = planner, planner.name

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.array([self.planner.act(o) for o in obs], np.int64)


class RandomPolicy:
    """Uniformly random actions: the floor of every metric."""

    view, name = "full", "random"

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 5, len(obs))


class NoisyPolicy:
    """Another policy's action, replaced by a uniformly random one with probability `epsilon`:
    the same goal pursued less competently (ground truth for the behavioral-objective
    calibration: the goal stays, competence falls)."""

    def __init__(self, policy, epsilon: float) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.policy, self.epsilon, self.view = policy, float(epsilon), policy.view
        self.name = f"{policy.name} (epsilon {epsilon:g})"

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        chosen = np.asarray(self.policy.act(obs, rng), np.int64)
        noise = rng.random(len(obs)) < self.epsilon
        return np.where(noise, rng.integers(0, 5, len(obs)), chosen)


def evaluate(
    policy, task: str, settings: EvalSettings, task_kwargs: dict | None = None
) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """Play one episode on every evaluation level of both splits.

    Returns (rows for episodes.csv, per-split arrays for eval_<split>.npz).
    """
    rows: list[dict] = []
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for s_idx, split in enumerate(SPLITS):
        codes = eval_levels(task, split, settings.levels, settings.eval_seed)
        engine = make_engine(
            task, len(codes), autoreset=False, view=policy.view, **(task_kwargs or {})
        )
        engine.load_codes(codes)
        rng = np.random.default_rng(
            np.random.SeedSequence(settings.eval_seed, spawn_key=(s_idx, 1))
        )
        played = _play(policy, engine, rng)
        rows += _episode_rows(engine.task, split, codes, played, settings.eval_seed)
        arrays[split] = {
            "levels": codes,
            "visits": played["visits"].reshape(len(codes), *engine.task.shape),
            "actions": played["actions"],
        }
        arrays[split].update({f"frames_{i}": np.stack(f) for i, f in enumerate(played["frames"])})
    return rows, arrays


def _play(policy, engine, rng: np.random.Generator) -> dict:
    """One episode in every env of `engine` (levels loaded): totals, actions, visits, frames."""
    t, n = engine.task, engine.num_envs
    if hasattr(policy, "begin"):
        policy.begin(n)
    visits = np.zeros((n, t.n_cells), np.int32)
    np.add.at(visits, (np.arange(n), engine.state.pos), 1)
    frames = [[t.to_codes(engine.state, i)] for i in range(min(N_FRAMES, n))]
    done = np.zeros(n, bool)
    returns = np.zeros((len(t.objectives), n))
    measures = np.zeros((len(t.measures), n))
    length = np.zeros(n, np.int64)
    taken = np.full((n, int(t.max_steps)), -1, np.int8)
    while not done.all():
        actions = np.asarray(policy.act(t.observation(engine.state), rng), np.int64)
        out = engine.step(actions)
        live = ~done  # envs whose episode was still running before this step
        taken[live, length[live]] = actions[live]
        returns[:, live] += out["objectives"][:, live]
        measures[:, live] += out["measures"][:, live]
        length[live] += 1
        np.add.at(visits, (np.flatnonzero(live), engine.state.pos[live]), 1)
        for i, f in enumerate(frames):
            if live[i]:
                f.append(t.to_codes(engine.state, i))
        done |= out["done"]
    return {
        "returns": returns,
        "measures": measures,
        "length": length,
        "actions": taken,
        "visits": visits,
        "frames": frames,
    }


def _episode_rows(t, split: str, codes: np.ndarray, played: dict, eval_seed: int) -> list[dict]:
    """The episodes.csv rows of one split."""
    counts = _level_counts(t, codes)
    rows = []
    for i in range(len(codes)):
        row = {"split": split, "level": i, "eval_seed": eval_seed}
        row["length"] = int(played["length"][i])
        row.update({RETURN + k: float(played["returns"][j, i]) for j, k in enumerate(t.objectives)})
        row.update({MEASURE + k: float(played["measures"][j, i]) for j, k in enumerate(t.measures)})
        row.update({COUNT + k: v[i] for k, v in counts.items()})
        optimal = _optimal(t, codes[i])
        row.update({OPTIMAL + k: float(optimal.get(k, np.nan)) for k in t.objectives})
        rows.append(row)
    return rows


_ORACLE: dict[tuple, dict[str, float]] = {}
_ORACLE_SIZE = 20_000


def _optimal(t, codes: np.ndarray) -> dict[str, float]:
    """The task's exact optimum per objective on one level, memoised: evaluating several agents
    (or one agent at several planning budgets) on the same levels solves each level once."""
    key = (type(t).__qualname__, t.shape, int(t.max_steps), codes.tobytes())
    if key not in _ORACLE:
        if len(_ORACLE) >= _ORACLE_SIZE:
            _ORACLE.pop(next(iter(_ORACLE)))
        _ORACLE[key] = dict(t.optimal_returns(codes))
    return dict(_ORACLE[key])


def _level_counts(task, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-level counts of the objects the task names in `counted` (e.g. count/dust_can)."""
    flat = codes.reshape(len(codes), -1)
    return {name: (flat == ord(ch)).sum(1) for ch, name in task.counted.items()}


def write_evaluation(run_dir: Path, rows: list[dict], arrays: dict, settings: EvalSettings) -> None:
    """Publish eval_<split>.npz, eval.json and episodes.csv as one step (`storage.publish`):
    episodes.csv goes last, so a kill leaves the previous evaluation or none, never a mix."""
    files = {}
    for split, data in arrays.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, **data)
        files[eval_arrays(split)] = buf.getvalue()
    files[EVAL_SETTINGS] = (json.dumps(settings.__dict__, indent=2) + "\n").encode()
    files[EPISODES] = csv_text(rows).encode()
    publish(Path(run_dir), files, last=EPISODES)


def evaluate_run(
    run_dir: str | Path,
    *,
    levels: int | None = None,
    eval_seed: int | None = None,
    greedy: bool | None = None,
) -> Path:
    """(Re-)evaluate a trained run folder from its checkpoint; rewrites its evaluation files.
    Settings default to the run's own (config.json's `eval`). Holds the folder's lock."""
    run_dir = Path(run_dir)
    meta = read_config(run_dir)  # a folder that is not a run fails here, before the lock
    with exclusive(run_dir, "eval"):
        return evaluate_trained(run_dir, meta, levels=levels, eval_seed=eval_seed, greedy=greedy)


def evaluate_trained(
    run_dir: Path,
    meta: dict,
    *,
    levels: int | None = None,
    eval_seed: int | None = None,
    greedy: bool | None = None,
) -> Path:
    """`evaluate_run` for a caller that holds the folder's lock (training's last step)."""
    if meta["role"] != "trained":
        raise RunFolderError(f"{run_dir} is not a trained run (it is a {meta['kind']} baseline)")
    saved = meta["eval"]
    settings = EvalSettings(
        eval_seed=saved["eval_seed"] if eval_seed is None else eval_seed,
        levels=saved["levels"] if levels is None else levels,
        greedy=saved["greedy"] if greedy is None else greedy,
    )
    agent, agent_meta = load_agent(run_dir)
    check_eval_size(meta["task"], settings, agent_meta["view"])
    policy = TorchPolicy(agent, agent_meta["view"], settings.greedy)
    rows, arrays = evaluate(policy, meta["task"], settings)
    write_evaluation(run_dir, rows, arrays, settings)
    return run_dir
