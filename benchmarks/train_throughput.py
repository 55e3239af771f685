"""Training throughput: our PPO on Roomba against Stable-Baselines3 PPO on MiniGrid, same run,
and our default settings alone, beside a busy core and beside a second training.

    python benchmarks/train_throughput.py            # ~3 min
    python benchmarks/train_throughput.py --quick    # fewer steps
    python benchmarks/train_throughput.py --networks # only the network rows (~2 min)

The network rows: training env-steps/s of the planning agent (roomba-planner: K = 10 steps of
value iteration) and the recurrent agent (roomba-recurrent: ConvLSTM, 2 ticks) beside the MLP
PPO (roomba), same run, same step count; and one forward pass at a batch of 256 Roomba
observations (median of 30, 1 torch thread): the planner's reward net + value iteration, the
recurrent agent's step, the plain MLP.

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from mesaworld.experiments.training.config import preset
from mesaworld.experiments.training.trainer import train


def ours(preset_name: str, steps: int, threads: int | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        extra = {} if threads is None else {"torch_threads": threads}
        cfg = preset(preset_name, total_steps=steps, eval_levels=8, **extra)
        run = train(cfg, Path(tmp) / "run", quiet=True)
        log = pd.read_csv(run / "train_log.csv")
        return float(log["global_step"].iloc[-1] / log["time/seconds"].iloc[-1])


def sb3_minigrid(steps: int) -> float | None:
    try:
        import minigrid  # noqa: F401  (registers MiniGrid ids)
        from minigrid.wrappers import ImgObsWrapper
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError:
        return None
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


def forward_ms(network: str, batch: int = 256, reps: int = 30) -> float:
    """Median wall time (ms) of one no-grad forward pass at `batch` Roomba observations."""
    from mesaworld.agents.registry import make_agent
    from mesaworld.envs.registry import get_task
    from mesaworld.experiments.training.checkpoint import agent_options

    cfg = preset({"mlp": "roomba", "planner": "roomba-planner"}.get(network, f"roomba-{network}"))
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


def network_table(steps: int) -> None:
    print(f"\nnetworks on the Roomba: training env-steps/s ({steps:,} steps each, 1 torch thread)"
          " and one forward pass at B=256")  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = {}
    for network, name in (("mlp", "roomba"), ("planner", "roomba-planner"),
                          ("recurrent", "roomba-recurrent")):  # fmt: skip
        rows[network] = (ours(name, steps), forward_ms(network))
    torch.set_num_threads(threads)
    base_rate, base_ms = rows["mlp"]
    print(f"{'network':12} {'env-steps/s':>12} {'vs MLP':>8} {'forward ms':>11} {'vs MLP':>8}")
    for network, (rate, ms) in rows.items():
        print(
            f"{network:12} {rate:12,.0f} {rate / base_rate:7.2f}x {ms:11.2f} {ms / base_ms:7.1f}x"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps")
    p.add_argument("--preset", default="roomba", help="our config")
    p.add_argument("--networks", action="store_true", help="only the network rows")
    args = p.parse_args()
    if args.networks:
        network_table(32_768 if args.quick else 65_536)
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
        print(f"{'SB3 PPO on MiniGrid-Empty-8x8 (8 envs)':48} skipped: pip install -e '.[bench]'")
    else:
        print(
            f"{'SB3 PPO on MiniGrid-Empty-8x8 (8 envs)':48} {peer:10,.0f} env-steps/s  "
            f"({peer_steps:,} steps)"
        )
        print(f"ratio: {ours_rate / peer:.1f}x")
    busy_table(args.preset, 100_000 if args.quick else 200_000)
    network_table(32_768 if args.quick else 65_536)


if __name__ == "__main__":
    main()
