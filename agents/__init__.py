"""mesaworld agents. Today: scripted planner baselines (`agents.planners`).

PPO and the training loop arrive with the training issue ("Train small torch agents ...").
"""
