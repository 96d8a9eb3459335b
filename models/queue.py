"""A negative memory bank (§III-A/B, Eq. 4): a FIFO of K L2-normalised keys.

Like MoCo's queue, the bank is a ``(K, C)`` buffer with a write pointer; each ``enqueue`` writes the
keys of all ranks at the pointer, overwriting the oldest entries and wrapping around the end when
K is not a multiple of the batch. It starts filled with random unit vectors (as MoCo). Buffers are
saved in checkpoints and moved with the module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.distributed import all_gather_cat


class NegativeQueue(nn.Module):
    """FIFO of ``size`` keys of dimension ``dim``.

    Shape: ``keys`` buffer ``(K, C)``; ``enqueue`` takes ``(B, C)`` per rank, ``B * world <= K``.
    """

    keys: Tensor
    ptr: Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size <= 0 or dim <= 0:
            raise ValueError("a negative bank needs a positive size and dimension")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` (gathered from all ranks) over the oldest entries."""
        keys = all_gather_cat(keys.detach()).to(self.keys.dtype)
        b = keys.shape[0]
        if b > self.size:
            raise ValueError(
                f"cannot enqueue {b} keys into a bank of size {self.size}: the global batch "
                "must not exceed the queue size (contrastive.queue_size)"
            )
        idx = (self.ptr + torch.arange(b, device=keys.device)) % self.size  # (B,)
        self.keys.index_copy_(0, idx, keys)
        self.ptr.copy_((self.ptr + b) % self.size)

    def oldest_first(self) -> Tensor:
        """The bank in FIFO order, oldest key first. Shape: ``(K, C)``."""
        return torch.roll(self.keys, shifts=-int(self.ptr), dims=0)
