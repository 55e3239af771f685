"""Training: the base optimizer (`ppo`), `train(cfg, run_dir)` on a run folder (`trainer`),
configs and presets (`config`), checkpoints, evaluation, scripted baselines, sweeps."""
