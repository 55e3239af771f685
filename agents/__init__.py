"""mesaworld agents: torch policies trained by the base optimizer.

`mesaworld.agents.ppo`: the actor-critic networks (MLP on a flattened view, a small CNN on the grid),
`get_action_and_value`, and the module-level `gae` and `ppo_loss` that training calls.
Scripted reference planners are declared by each task (`TaskSpec.baselines`, built from
`mesaworld.envs.planning`), so that a task stays one file.
"""
