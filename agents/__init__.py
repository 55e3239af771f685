"""mesaworld agents: torch networks, one file + one row each of the architecture table
(`registry.ARCHITECTURES`; `architecture.Architecture` says what a row declares): `feedforward`
(mlp, cnn), `planner` (a learned reward map + value iteration), `recurrent` (a ConvLSTM), `lstm`
(the RL^2 agent). The base optimizer that trains them is `mesaworld.experiments.training.ppo`.
Scripted reference planners are declared by each task (`TaskSpec.baselines`)."""
