"""The training core in plain PyTorch: pretraining loop, evaluation protocols, schedules, checkpoints.

It runs in one CPU process without Ray or MLflow (a test imports it with both blocked); the
orchestration in ``pipeline`` runs it in-process or on Ray Train workers and records it in MLflow.
"""
