"""A negative memory bank (§III-A/B, Eq. 4): a FIFO of K L2-normalised keys, for S streams at once.

Like MoCo's queue, the bank is a buffer with a write pointer; each ``enqueue`` writes the keys of
all ranks at the pointer, overwriting the oldest entries and wrapping around the end when K is not
a multiple of the batch. It starts filled with random unit vectors (as MoCo). Every stream has its
own K keys (one bank per stream, as one model per stream would have); they share the pointer
because every step enqueues the same number of keys in each. Buffers are saved in checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmoco.models.distributed import all_gather_cat


class NegativeQueue(nn.Module):
    """FIFO of ``size`` keys of dimension ``dim`` per stream.

    Shape: ``keys`` buffer ``(S, K, D)``; ``enqueue`` takes ``(B, S, D)`` per rank, ``B * world <= K``.
    """

    keys: Tensor
    ptr: Tensor

    def __init__(self, size: int, dim: int, streams: int = 1) -> None:
        super().__init__()
        if size <= 0 or dim <= 0 or streams <= 0:
            raise ValueError("a negative bank needs a positive size, dimension and stream count")
        self.register_buffer("keys", F.normalize(torch.randn(streams, size, dim), dim=-1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[1]

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` (gathered from all ranks) over the oldest entries."""
        keys = all_gather_cat(keys.detach()).to(self.keys.dtype)  # (B, S, D)
        b = keys.shape[0]
        if b > self.size:
            raise ValueError(
                f"cannot enqueue {b} keys into a bank of size {self.size}: the global batch "
                "must not exceed the queue size (contrastive.queue_size)"
            )
        idx = (self.ptr + torch.arange(b, device=keys.device)) % self.size  # (B,)
        self.keys.index_copy_(1, idx, keys.transpose(0, 1))
        self.ptr.copy_((self.ptr + b) % self.size)

    def oldest_first(self) -> Tensor:
        """The bank in FIFO order, oldest key first. Shape: ``(S, K, D)``."""
        return torch.roll(self.keys, shifts=-int(self.ptr), dims=1)
