"""The one place that talks to ``torch.distributed``; degrades to rank 0 of 1 without a group.

Everything in ``models/`` runs in a single CPU process; under DDP (Ray Train sets up the process
group) the negative banks gather the keys of all ranks before enqueueing them, as MoCo does.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


@torch.no_grad()
def all_gather_cat(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0 (rank order); ``x`` itself on one process.

    No gradient flows through (keys only). Every rank must pass the same shape.
    Shape: ``(B, C)`` -> ``(world_size * B, C)``.
    """
    if not is_distributed() or world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


@torch.no_grad()
def all_finite(x: Tensor) -> bool:
    """Whether ``x`` is finite on every rank (one scalar all-reduce): every rank gets the same answer,
    so all stop together where one rank's loss is NaN (a rank stopping alone would leave the others
    waiting in the next collective)."""
    ok = torch.isfinite(x).all().to(torch.int32).reshape(1)
    if is_distributed() and world_size() > 1:
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return bool(ok.item())
