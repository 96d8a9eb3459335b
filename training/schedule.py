"""Learning-rate, key-momentum and crossing schedules of pretraining, as pure functions of progress.

Schedules run per optimizer step, not per epoch: ``progress`` is the fractional epoch
``epoch + step / steps_per_epoch``, so a profile with few steps per epoch (NW-UCLA on a CPU: 8-16)
anneals as smoothly as the paper's. The step decay keeps its milestones in epochs, as the CrosSCLR
lineage writes them (``step: [250]`` of 300).
"""

from __future__ import annotations

import math

from crossmoco.training.config import Config, OptimConfig


def learning_rate(cfg: OptimConfig, progress: float, epochs: int, step: float = 1.0) -> float:
    """The learning rate of the step starting at fractional epoch ``progress`` of ``epochs``, a step
    being ``step`` epochs long: linear warmup (reaching ``lr`` with the step that ends the warmup),
    then step / cosine / constant."""
    if cfg.warmup_epochs > 0 and progress < cfg.warmup_epochs:
        return cfg.lr * min(1.0, (progress + step) / cfg.warmup_epochs)
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** sum(progress >= m for m in cfg.milestones)
    span = max(1e-9, epochs - cfg.warmup_epochs)
    done = min(1.0, (progress - cfg.warmup_epochs) / span)
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * done))


def key_momentum(base: float, progress: float, epochs: int, schedule: str) -> float:
    """m of Eq. (1): constant (the paper, §IV-B: 0.999), or increased from ``base`` to 1 along a
    half cosine over training (BYOL's and MoCo v3's schedule)."""
    if schedule == "constant":
        return base
    done = min(1.0, progress / max(1, epochs))
    return 1.0 - (1.0 - base) * 0.5 * (1.0 + math.cos(math.pi * done))


def crossed_at(cfg: Config, epoch: int) -> bool:
    """Whether the loss is crossed (Eqs. 3-5) in ``epoch``: the paper cross-trains from
    ``contrastive.cross_start_epoch`` on (150 of 300, §IV-B); Table II's uncrossed row never does."""
    return cfg.contrastive.encoders == "crossed" and epoch >= cfg.contrastive.cross_start_epoch
