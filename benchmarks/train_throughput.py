"""Training throughput: our PPO on Roomba against Stable-Baselines3 PPO on MiniGrid, same run,
and our default settings alone, beside a busy core and beside a second training.

    python benchmarks/train_throughput.py            # ~3 min
    python benchmarks/train_throughput.py --quick    # fewer steps
    python benchmarks/train_throughput.py --networks # only the network rows (~5 min)
    python benchmarks/train_throughput.py --options  # what architecture options would buy (~15 min)

The network rows: training env-steps/s of the planning agent (roomba-planner: K = 10 steps of
value iteration; roomba-planner-fast: the same with a 16-wide reward net) and the recurrent
agent (roomba-recurrent: ConvLSTM, 2 ticks) beside the MLP PPO (roomba), same run, same step
count, the four trained in turn `--reps` times (median; the ratio to the MLP is the median of
each round's ratio, so load that comes and goes cancels); one forward pass at a batch of 256
Roomba observations (median of 30, 1 torch thread): the planner's reward net + value
iteration, the recurrent agent's step, the plain MLP; and our MLP PPO against
Stable-Baselines3 PPO (below), the peer at its default torch threads (what a user gets) and at
1 (a line saying what is missing without the `bench` extra).

The option rows (`--options`): each preset's training env-steps/s with one thing changed that
the defaults do NOT do (a narrower reward net, a cheaper layer, fewer or larger minibatches,
fewer ticks, two threads), the variants trained in turn `--reps` times, each as the median and
the median ratio to the unchanged preset. Nothing here changes a default; the variants are
built in this process only (a swapped architecture row).

The "busy machine" rows: the same training with 1 torch thread (the default) and with 2, first
alone, then while a plain `while True: pass` process holds one core, then while a second copy of
the same training runs (each figure is the measured run's own rate).

Env-steps per second of whole PPO training (rollouts + updates), wall clock:
  * ours: `mesaworld.experiments.training.trainer.train` with a preset (default `roomba`: MLP 128-128 on the
    egocentric view, 256 envs x 32 steps, 2 epochs x 8 minibatches), run into a temp folder; the
    rate is the log's own `time/sps` (training only, evaluation excluded);
  * peer: Stable-Baselines3 PPO, MlpPolicy with the same 128-128 trunk widths, 8 DummyVecEnv
    copies of MiniGrid-Empty-8x8-v0 (ImgObsWrapper: the 7x7x3 egocentric image), n_steps=256,
    2 epochs, minibatch 256 (pip install -e ".[bench]"). Without it the peer row says skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.trainer import train


def ours(preset_name: str, steps: int, threads: int | None = None, **overrides) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        extra = {} if threads is None else {"torch_threads": threads}
        cfg = preset(preset_name, total_steps=steps, eval_levels=8, **extra, **overrides)
        run = train(cfg, Path(tmp) / "run", quiet=True)
        log = pd.read_csv(run / "train_log.csv")
        return float(log["global_step"].iloc[-1] / log["time/seconds"].iloc[-1])


def sb3_missing() -> list[str]:
    """The peer's packages (the `bench` extra) that are not installed."""
    import importlib.util

    return [m for m in ("stable_baselines3", "minigrid") if importlib.util.find_spec(m) is None]


def sb3_minigrid(steps: int) -> float | None:
    if sb3_missing():
        return None
    import minigrid  # noqa: F401  (registers MiniGrid ids)
    from minigrid.wrappers import ImgObsWrapper
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env("MiniGrid-Empty-8x8-v0", n_envs=8, seed=0, wrapper_class=ImgObsWrapper)
    model = PPO(
        "MlpPolicy",
        vec,
        n_steps=256,
        batch_size=256,
        n_epochs=2,
        policy_kwargs={"net_arch": [128, 128]},
        seed=0,
        device="cpu",
    )
    model.learn(total_timesteps=2048)  # warm up
    start = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def beside(preset_name: str, steps: int, threads: int, other: str | None) -> float:
    """Our rate while `other` runs: None (alone), "busy" (a spinning process) or "train" (a
    second training with the same settings, long enough to outlast the measured one)."""
    if other is None:
        return ours(preset_name, steps, threads)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", "while True: pass"]
        if other == "train":
            cmd = [
                sys.executable,
                "-m",
                "mesaworld.experiments.cli.main",
                "train",
                preset_name,
                "--quiet",
            ]
            cmd += ["--total-steps", str(4 * steps), "--torch-threads", str(threads)]
            cmd += ["--eval-levels", "8", "--out", str(Path(tmp) / "neighbour")]
        neighbour = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        try:
            time.sleep(3.0)  # let it get going
            return ours(preset_name, steps, threads)
        finally:
            neighbour.kill()
            neighbour.wait()


def busy_table(preset_name: str, steps: int) -> None:
    print(f"\nbusy machine: {preset_name}, {steps:,} steps, env-steps/s (training only)")
    print(
        f"{'torch threads':14} {'alone':>10} {'beside a busy core':>20} {'beside a training':>18}"
    )
    rates = {}
    for threads in (1, 2):
        row = [beside(preset_name, steps, threads, other) for other in (None, "busy", "train")]
        rates[threads] = row
        cells = [f"{r:10,.0f}" for r in row]
        print(f"{threads:<14} {cells[0]:>10} {cells[1]:>20} {cells[2]:>18}")
    ratios = [a / b for a, b in zip(rates[1], rates[2])]
    print(f"{'1 / 2 threads':14} " + " ".join(f"{r:>{w}.2f}x" for r, w in zip(ratios, (9, 19, 17))))


def forward_ms(name: str, batch: int = 256, reps: int = 30) -> float:
    """Median wall time (ms) of one no-grad forward pass of preset `name`'s network at `batch`
    Roomba observations."""
    from mesaworld.agents.registry import make_agent
    from mesaworld.envs.registry import get_task
    from mesaworld.experiments.training.checkpoint import agent_options

    cfg = preset(name)
    network = cfg.network
    rules = get_task("roomba").rules(cfg.view)
    agent = make_agent(
        network, rules.obs_shape, 5, cfg.hidden, **agent_options(cfg, get_task("roomba"))
    )
    obs = torch.zeros((batch, *rules.obs_shape), dtype=torch.uint8)
    obs[:, rules.obs_channels.index("agent") if "agent" in rules.obs_channels else 0, 4, 4] = 1
    times = []
    with torch.no_grad():
        for _ in range(reps):
            start = time.perf_counter()
            if network == "recurrent":
                agent.step(obs, agent.initial_memory(batch), torch.zeros(batch, dtype=torch.bool))
            else:
                agent.logits(obs)
            times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def sb3_skipped() -> str:
    return f"skipped, not installed: {' and '.join(sb3_missing())} (pip install -e '.[bench]')"


NETWORKS = (
    ("mlp", "roomba"),
    ("planner", "roomba-planner"),
    ("planner-fast", "roomba-planner-fast"),
    ("recurrent", "roomba-recurrent"),
)


def network_table(steps: int, reps: int = 3, peer_steps: int = 16_384) -> None:
    print(f"\nnetworks on the Roomba: training env-steps/s ({steps:,} steps each, 1 torch thread,"
          f" the {len(NETWORKS)} in turn, {reps} rounds, medians) and one forward pass at B=256")  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rates: dict[str, list[float]] = {network: [] for network, _ in NETWORKS}
    for _ in range(reps):
        for network, name in NETWORKS:
            rates[network].append(ours(name, steps))
    ms = {network: forward_ms(name) for network, name in NETWORKS}
    torch.set_num_threads(threads)
    print(f"{'network':12} {'env-steps/s':>12} {'vs MLP':>8} {'forward ms':>11} {'vs MLP':>8}")
    for network, _ in NETWORKS:
        ratio = statistics.median(r / m for r, m in zip(rates[network], rates["mlp"]))
        print(
            f"{network:12} {statistics.median(rates[network]):12,.0f} {ratio:7.2f}x "
            f"{ms[network]:11.2f} {ms[network] / ms['mlp']:7.1f}x"
        )
    mlp = statistics.median(rates["mlp"])
    for label, peer_threads in (("default", threads), ("1", 1))[: 2 if threads > 1 else 1]:
        torch.set_num_threads(peer_threads)
        try:
            peer = sb3_minigrid(peer_steps)
        finally:
            torch.set_num_threads(threads)
        if peer is None:
            print(f"our MLP PPO vs SB3 PPO on MiniGrid-Empty-8x8: {sb3_skipped()}")
            break
        print(
            f"our MLP PPO vs SB3 PPO on MiniGrid-Empty-8x8 (8 envs, torch threads {label} = "
            f"{peer_threads}: {peer:,.0f} env-steps/s, {peer_steps:,} steps): {mlp / peer:.1f}x"
        )


@contextmanager
def variant_row(network: str, edit):
    """Within the block, `network` builds with `edit(agent)` applied after construction
    (training, checkpoint and evaluation all build through the row). Restored on exit; nothing
    on disk changes."""
    from mesaworld.agents import registry

    row = registry.ARCHITECTURES[network]

    def build(*args, **kwargs):
        agent = row.build(*args, **kwargs)
        edit(agent)
        return agent

    registry.ARCHITECTURES[network] = dataclasses.replace(row, build=build)
    try:
        yield
    finally:
        registry.ARCHITECTURES[network] = row


def _planner_first_layer_16(agent) -> None:
    from mesaworld.agents.planner import _conv

    agent.features[0] = _conv(agent.features[0].in_channels, 16, 3)
    agent.features[2] = _conv(16, agent.features[2].out_channels, 3)


def _planner_second_conv_1x1(agent) -> None:
    from mesaworld.agents.planner import _conv

    agent.features[2] = _conv(agent.features[2].in_channels, agent.features[2].out_channels, 1)


@contextmanager
def _planner_nchw():
    from mesaworld.agents import planner

    planner.CHANNELS_LAST = False
    try:
        yield
    finally:
        planner.CHANNELS_LAST = True


@contextmanager
def _nothing():
    yield


# (label, preset overrides, context that builds the variant); the first row of each is the
# unchanged preset.
OPTIONS = {
    "roomba-planner": (
        ("as is (K = 10, reward net 32 wide)", {}, _nothing),
        ("reward_width 16 (roomba-planner-fast)", {"reward_width": 16}, _nothing),
        ("reward_width 24", {"reward_width": 24}, _nothing),
        ("reward_width 16, update_epochs 1", {"reward_width": 16, "update_epochs": 1}, _nothing),
        ("first layer 16 wide (second 32)", {},
         lambda: variant_row("planner", _planner_first_layer_16)),
        ("second conv 1x1 (was 3x3)", {}, lambda: variant_row("planner", _planner_second_conv_1x1)),
        ("update_epochs 1 (was 2)", {"update_epochs": 1}, _nothing),
        ("num_minibatches 4 (was 8)", {"num_minibatches": 4}, _nothing),
        ("plan_steps 5 (was 10)", {"plan_steps": 5}, _nothing),
        ("NCHW convolutions (bit-identical forward)", {}, _planner_nchw),
        ("torch_threads 2 (was 1)", {"torch_threads": 2}, _nothing),
    ),
    "roomba-recurrent": (
        ("as is (2 ticks, 8 channels)", {}, _nothing),
        ("ticks 1 (was 2)", {"ticks": 1}, _nothing),
        ("update_epochs 1 (was 2)", {"update_epochs": 1}, _nothing),
        ("num_minibatches 4 (was 8)", {"num_minibatches": 4}, _nothing),
        ("num_minibatches 2 (was 8)", {"num_minibatches": 2}, _nothing),
        ("torch_threads 2 (was 1)", {"torch_threads": 2}, _nothing),
    ),
}  # fmt: skip


def options_table(steps: dict[str, int], reps: int) -> None:
    """What each option would buy, measured (module docstring); defaults untouched."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for name, options in OPTIONS.items():
        print(f"\n{name}: training env-steps/s with one thing changed ({steps[name]:,} steps, "
              f"the variants in turn, {reps} rounds, medians; NOT the defaults)")  # fmt: skip
        rates: list[list[float]] = [[] for _ in options]
        for _ in range(reps):
            for i, (_, overrides, context) in enumerate(options):
                with context():
                    rates[i].append(ours(name, steps[name], **overrides))
        print(f"{'variant':44} {'env-steps/s':>12} {'vs as is':>9}")
        for (label, _, _), r in zip(options, rates):
            ratio = statistics.median(a / b for a, b in zip(r, rates[0]))
            print(f"{label:44} {statistics.median(r):12,.0f} {ratio:8.2f}x")
    torch.set_num_threads(threads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps")
    p.add_argument("--preset", default="roomba", help="our config")
    p.add_argument("--networks", action="store_true", help="only the network rows")
    p.add_argument("--options", action="store_true", help="only the architecture-option rows")
    p.add_argument("--reps", type=int, default=3, help="rounds of the network/option rows")
    args = p.parse_args()
    if args.networks:
        network_table(32_768 if args.quick else 65_536, args.reps)
        return
    if args.options:
        planner, recurrent = (16_384, 8_192) if args.quick else (32_768, 16_384)
        options_table({"roomba-planner": planner, "roomba-recurrent": recurrent}, args.reps)
        return
    ours_steps = 200_000 if args.quick else 600_000
    peer_steps = 16_384 if args.quick else 49_152
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads available; our preset '{args.preset}'")
    ours_rate = ours(args.preset, ours_steps)
    print(
        f"{'mesaworld PPO on Roomba (train split)':48} {ours_rate:10,.0f} env-steps/s  ({ours_steps:,} steps)"
    )
    torch.set_num_threads(threads)
    peer = sb3_minigrid(peer_steps)
    if peer is None:
        print(f"{'SB3 PPO on MiniGrid-Empty-8x8 (8 envs)':48} {sb3_skipped()}")
    else:
        print(
            f"{'SB3 PPO on MiniGrid-Empty-8x8 (8 envs)':48} {peer:10,.0f} env-steps/s  "
            f"({peer_steps:,} steps)"
        )
        print(f"ratio: {ours_rate / peer:.1f}x")
    busy_table(args.preset, 100_000 if args.quick else 200_000)
    network_table(32_768 if args.quick else 65_536, args.reps)


if __name__ == "__main__":
    main()
