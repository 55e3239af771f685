"""Typed training configuration: one frozen dataclass, named presets, and the CLI built from it.

`TrainConfig` holds everything that decides a training run; its one `seed` decides every random
number (levels, network init, actions, minibatches). Each field's docstring is its `--help` text.
A preset is a named `TrainConfig` (`PRESETS`); the CLI starts from a preset and overrides fields:

    mesaworld train roomba --seed 3 --total-steps 2e6 --knob 0.1

Bad values raise `ConfigError` with one line naming the field.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import textwrap
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mesaworld.agents.architecture import MAX_HIDDEN
from mesaworld.agents.registry import ARCHITECTURES
from mesaworld.analysis.runfolder import default_run_dir
from mesaworld.envs.engine import engine_bytes, mixture_weights, require_memory
from mesaworld.envs.registry import TASKS, canonical
from mesaworld.envs.task import VIEWS
from mesaworld.experiments.training.samplers.registry import check_sampler

MAX_THREADS = 64  # torch's thread pool fails far beyond the cores any machine has
MAX_STEPS = 10**10  # ~3 days at the fastest preset's 43k steps/s: a larger budget is a typo


class ConfigError(ValueError):
    """A bad configuration value (the message names the field)."""


@dataclass(frozen=True)
class TrainConfig:
    """A PPO training run on one task's train split, then evaluation on train and deploy."""

    task: str
    """registered task to train on (see `mesaworld list`)"""
    knob: float | None = None
    """the shift's knob for the train split, e.g. Roomba's can_fraction (None: the task's default)"""
    seed: int = 0
    """the one seed: levels, network init, sampled actions and minibatches all derive from it"""
    total_steps: int = 1_000_000
    """environment steps to train for (across all envs), in whole updates of num_envs *
    num_steps: a budget that is not a multiple is rounded down to one, said on stderr, and the
    run records the steps it trains (20000 at 4096 per update trains and records 16384); from
    one update to 1e10 steps"""
    network: str = "mlp"
    """policy network: mlp (flattened view, CPU-fast), cnn (convolutions over the grid),
    planner (a learned per-cell reward + value iteration: a mesa-optimizer; needs view full) or
    recurrent (a convolutional LSTM with `ticks` internal steps per env step: no built-in search)
    or lstm (an LSTM over the flattened view: the RL^2 agent of in-context learning tasks)"""
    view: str = "egocentric"
    """observation: egocentric (the room re-centred on the agent) or full (C, H, W)"""
    hidden: int = 128
    """width of the hidden layers"""
    plan_steps: int = 10
    """planner: value-iteration steps K (how far ahead it can see; a test-time knob too)"""
    plan_gamma: float = 0.9
    """planner: the discount of its internal value iteration"""
    coords: bool = False
    """planner: give the reward net two coordinate channels (position can become a goal)"""
    reward_layers: int = 2
    """planner: 3x3 convolutions of the reward net, 1-8 (its receptive field is 2L+1 cells wide)"""
    reward_width: int = 32
    """planner: channels of the reward net's convolutions, 1-256 (16: ~1.5-1.7x faster, and a different learner)"""
    ticks: int = 2
    """recurrent: ConvLSTM ticks per env step (its thinking time; a test-time knob too)"""
    num_envs: int = 256
    """environments stepped in parallel (one numpy batch)"""
    num_steps: int = 32
    """rollout length per environment per update"""
    lr: float = 1e-3
    """Adam learning rate"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over training"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalized advantage estimation"""
    update_epochs: int = 2
    """passes over each rollout"""
    num_minibatches: int = 8
    """minibatches per pass"""
    clip_coef: float = 0.2
    """PPO ratio clipping"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient norm clipping"""
    torch_threads: int = 1
    """torch CPU threads; 1 stays fast beside other work (2 is up to ~30% faster alone on 2 cores, ~10x slower beside one busy core: benchmarks/train_throughput.py)"""
    reward_weights: str = ""
    """train on a mixture of objectives, e.g. base:0.75,dust_collected:0.25 (empty: the task's reward)"""
    sampler: str = "dr"
    """level sampler: dr (the train generator; with --pool-size, uniform over the pool), plr, plr-maxmc, plr-regret, sfl, regret, accel, accel-regret"""
    pool_size: int = 0
    """levels in the fixed pool every sampler draws from (the train generator at the knob; 0: none, or 1000 for a sampler other than dr)"""
    pool_alpha: float | None = None
    """fraction of the pool that are deploy (distinguishing) levels, exactly round(alpha * pool_size) of them (none: the train generator at the knob alone)"""
    replay_prob: float = 0.5
    """plr*: probability a reset replays a scored level; sfl: of drawing from the most learnable"""
    eval_levels: int = 200
    """evaluation levels per split"""
    eval_seed: int = 20261123
    """seed of the fixed evaluation level sets (keep it equal across runs to compare them)"""
    eval_greedy: bool = False
    """evaluate with argmax actions instead of sampling (argmax policies can loop in gridworlds)"""
    checkpoint_every: int = 20
    """updates between checkpoints (an interrupted run resumes from the last one)"""
    tensorboard: bool = False
    """also log to TensorBoard in <run>/tb (needs the tensorboard package)"""
    preset: str = field(default="custom", compare=False)
    """name of the preset this config started from (recorded, not used)"""

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
        if canonical(self.task) in TASKS:
            object.__setattr__(self, "task", canonical(self.task))  # one name per task
        else:
            _fail("task", f"unknown task {self.task!r}; known: {', '.join(TASKS)}")
        lo, hi = TASKS[self.task].shift.knob_range
        if self.knob is not None and not (lo <= self.knob <= hi and math.isfinite(self.knob)):
            _fail("knob", f"must be in [{lo:g}, {hi:g}], got {self.knob!r}")
        if self.network not in ARCHITECTURES:
            _fail("network", f"must be one of {', '.join(ARCHITECTURES)}, got {self.network!r}")
        arch = ARCHITECTURES[self.network]
        if self.view not in VIEWS:
            _fail("view", f"must be one of {', '.join(VIEWS)}, got {self.view!r}")
        if self.view not in arch.views:
            _fail("view", f"the {self.network} network needs --view {' or '.join(arch.views)}")
        # Every architecture's options that are config fields, checked against their rows.
        for option in (o for a in ARCHITECTURES.values() for o in a.options):
            if hasattr(self, option.name) and (why := option.problem(getattr(self, option.name))):
                _fail(option.name, why)
        if self.hidden > MAX_HIDDEN:
            _fail("hidden", f"must be at most {MAX_HIDDEN}, got {self.hidden}")
        if arch.recurrent and self.num_envs % self.num_minibatches:
            _fail(
                "num_minibatches",
                f"the {self.network} network learns on whole env sequences: num_envs "
                f"({self.num_envs}) must be divisible by num_minibatches ({self.num_minibatches})",
            )
        for name in ("seed", "eval_seed"):  # numpy's SeedSequence takes non-negative seeds
            if getattr(self, name) < 0:
                _fail(name, f"must be a non-negative integer, got {getattr(self, name)!r}")
        positive = ("total_steps", "hidden", "num_envs", "num_steps", "update_epochs")
        positive += ("num_minibatches", "torch_threads", "eval_levels", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                _fail(name, f"must be at least 1, got {getattr(self, name)!r}")
        if self.torch_threads > MAX_THREADS:
            _fail("torch_threads", f"must be at most {MAX_THREADS}, got {self.torch_threads}")
        for name in ("lr", "clip_coef", "max_grad_norm"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                _fail(name, f"must be a positive number, got {value!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, name) <= 1:
                _fail(name, f"must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("ent_coef", "vf_coef"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                _fail(name, f"must be a non-negative number, got {value!r}")
        if self.reward_weights.strip():
            try:
                mixture_weights(TASKS[self.task].rules(), self.reward_mix)
            except ValueError as e:  # (reward_mix itself raises for text that does not parse)
                _fail("reward_weights", f"{str(e).removeprefix('reward_weights: ')} (write it as "
                      f"objective:weight,..., e.g. base:0.75,{TASKS[self.task].objectives[-1]}:0.25)")  # fmt: skip
        if problem := check_sampler(
            self.sampler, self.pool_size, self.replay_prob, self.pool_alpha
        ):
            raise ConfigError(problem)
        if self.batch_size % self.num_minibatches:
            _fail(
                "num_minibatches",
                f"must divide num_envs * num_steps = {self.batch_size}, got {self.num_minibatches}",
            )
        if self.total_steps > MAX_STEPS:
            _fail("total_steps", f"must be at most 1e10, got {_count(self.total_steps)}")
        if self.total_steps < self.batch_size:
            _fail(
                "total_steps",
                f"must be at least one rollout (num_envs * num_steps = {self.batch_size}), "
                f"got {self.total_steps}",
            )
        # Whole updates only: the config (and the run's config.json) says what is trained.
        object.__setattr__(self, "total_steps", self.num_updates * self.batch_size)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    @property
    def train_knob(self) -> float:
        """The knob in effect (the task's default when `knob` is None)."""
        return TASKS[self.task].shift.knob_default if self.knob is None else float(self.knob)

    @property
    def reward_mix(self) -> dict[str, float] | None:
        """`reward_weights` as {objective: weight}, None for the task's own reward."""
        if not self.reward_weights.strip():
            return None
        out = {}
        for part in self.reward_weights.split(","):
            name, _, value = part.partition(":")  # no ":" leaves value "": float refuses it
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not objective:weight") from None
        return out

    @property
    def agent_name(self) -> str:
        """How tables and figures name the agent: ppo-<network>."""
        return f"ppo-{self.network}"

    @property
    def eval_settings(self) -> dict[str, Any]:
        """The evaluation settings as recorded in the run folder."""
        return {"eval_seed": self.eval_seed, "levels": self.eval_levels, "greedy": self.eval_greedy}

    def default_run_dir(self, root: str | Path = "runs") -> Path:
        """root/<preset>_knob<k>_seed<s>, e.g. runs/roomba_knob0_seed3."""
        return default_run_dir(self.preset, self.train_knob, self.seed, root)

    def require_memory(self) -> None:
        """Refuse in one line, before any work, a run whose environments, rollout buffer or
        evaluation would not fit in this machine's memory."""
        spec = TASKS[self.task]
        rules = spec.rules(self.view)
        obs = int(np.prod(rules.obs_shape))
        n_u = spec.shift.train.n_uniforms
        rollout = self.batch_size * (obs + 64)  # uint8 observations + float/int columns
        # The network sees all envs at once in the rollout (float32 copies of the observations
        # and of each layer) and a minibatch at a time, with gradients, in the update.
        forward = self.num_envs * 4 * (2 * obs + 4 * self.hidden)
        minibatch = self.batch_size // self.num_minibatches * 4 * 3 * (2 * obs + 4 * self.hidden)
        require_memory(
            engine_bytes(rules, self.num_envs, n_u) + rollout + max(forward, minibatch),
            f"training {self.num_envs:,} envs x {self.num_steps} steps of {self.task}",
        )
        deploy = spec.shift.deploy.n_uniforms
        levels = engine_bytes(rules, self.eval_levels, max(n_u, deploy))
        levels += self.eval_levels * 4 * (2 * obs + 4 * self.hidden)
        require_memory(levels, f"evaluating {self.eval_levels:,} levels per split")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every field with a default, as a dict (what a config written before a field existed
        means by leaving it out)."""
        return {f.name: f.default for f in fields(cls) if f.default is not dataclasses.MISSING}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from `to_dict` output (e.g. a run folder's config.json). Unknown keys fail."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**data)


def _count(n: int) -> str:
    """An integer as 1,234,567, or as 1e+99 when it is too long to read."""
    try:
        return f"{n:,}" if n < 10**13 else f"{n:.3g}"
    except OverflowError:  # beyond any float
        return f"a number of {len(str(n))} digits"


def _fail(name: str, message: str) -> None:
    raise ConfigError(f"{name}: {message}")


def _check_type(name: str, value: Any, annotation: str) -> None:
    # Annotations are strings (from __future__ import annotations); the set used here is small.
    allowed = {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "float | None": (int, float, type(None)),
    }[annotation]
    if annotation != "bool" and isinstance(value, bool) or not isinstance(value, allowed):
        _fail(name, f"must be {annotation}, got {value!r}")


def field_docs(cls: type = TrainConfig) -> dict[str, str]:
    """Field name -> the docstring written under it (the `--help` text)."""
    return dict(_field_docs(cls))


@cache
def _field_docs(cls: type) -> tuple[tuple[str, str], ...]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = []
    for node, nxt in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs.append((node.target.id, nxt.value.value.strip()))
    return tuple(docs)


# --- presets ---------------------------------------------------------------------------------
def presets() -> dict[str, TrainConfig]:
    """Every registered task's presets (`TaskSpec.presets`), by name. A preset whose fields do
    not make a valid config is one line naming the task, the preset and the field."""
    out = {}
    for spec in TASKS.values():
        for p in spec.presets:
            try:
                out[p.name] = TrainConfig(task=spec.name, preset=p.name, **dict(p.fields))
            except (ConfigError, TypeError) as e:
                raise ConfigError(f"task {spec.name!r}: preset {p.name!r}: {e}") from None
    return out


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A named preset with fields replaced, e.g. `preset("roomba", seed=3, knob=0.25)`."""
    known_presets = presets()
    if name not in known_presets:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(known_presets)}")
    known = {f.name for f in fields(TrainConfig)}
    for key in overrides:
        if key not in known:
            raise ConfigError(f"unknown config field {key!r}")
    # The budget as the preset writes it, rounded to whole updates of the final rollout size
    # (not of the preset's own: --num-envs must not change how far a preset's budget reaches).
    budget = next(
        dict(p.fields).get("total_steps", TrainConfig.total_steps)
        for spec in TASKS.values()
        for p in spec.presets
        if p.name == name
    )
    return replace(known_presets[name], **{"total_steps": budget, **overrides})


# --- command-line parsing of fields ------------------------------------------------------------
def parse_value(name: str, annotation: str, text: str) -> Any:
    """Parse one CLI value for field `name`; '2e6' is accepted for integer fields."""
    try:
        if annotation == "str":
            return text
        if annotation == "bool":
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if annotation == "float | None" and text.lower() in ("none", "default"):
            return None
        if annotation == "int":
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        return float(text)
    except ValueError:
        kind = {"float | None": "a number or none", "bool": "true or false"}.get(
            annotation, f"an {annotation}" if annotation == "int" else f"a {annotation}"
        )
        raise ConfigError(f"{name}: expected {kind}, got {text!r}") from None


def cli_fields() -> list[tuple[str, str, str]]:
    """(field name, type annotation, help) of every CLI-settable field."""
    docs = field_docs()
    return [
        (f.name, str(f.type), docs.get(f.name, ""))
        for f in fields(TrainConfig)
        if f.name != "preset"
    ]
