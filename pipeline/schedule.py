"""Learning-rate and momentum schedules of pretraining, as pure functions of the epoch."""

from __future__ import annotations

import math

from pipeline.config import OptimConfig


def learning_rate(cfg: OptimConfig, epoch: int, epochs: int) -> float:
    """The learning rate for 0-based ``epoch`` of ``epochs``: warmup, then step / cosine / constant."""
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1) / cfg.warmup_epochs
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    span = max(1, epochs - cfg.warmup_epochs)
    progress = (epoch - cfg.warmup_epochs) / span
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * progress))


def key_momentum(base: float, epoch: int, epochs: int, schedule: str) -> float:
    """m of Eq. (1): constant (the paper, §IV-B: 0.999) or cosine-increased to 1 (BYOL's schedule)."""
    if schedule == "constant":
        return base
    return 1.0 - (1.0 - base) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))
