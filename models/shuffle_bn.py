"""Shuffling BN in one process (MoCo, He et al. 2020, §3.3), as a pure helper.

Without it, a query and its positive key are normalised with the statistics of the same samples,
while the bank's negatives come from other batches: the batch statistics leak which key is the
positive, and the contrastive task can be solved without learning the samples (MoCo's "cheat":
the loss falls, the features do not improve). MoCo encodes each GPU's query batch with its own BN
statistics and the key batch after shuffling samples across GPUs. One process does the same with
``groups`` sub-batches: queries in contiguous sub-batches, keys in sub-batches of a random
permutation (drawn from the explicit generator), the results put back in sample order.
``groups = 1`` encodes the whole batch at once (the CrosSCLR lineage, which has no shuffling).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def encode_in_groups(
    encode: Callable[[Tensor], tuple[Tensor, ...]], x: Tensor, groups: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, ...]:  # fmt: skip
    """``encode(x)`` computed on ``groups`` sub-batches (of a permutation of x when a generator is
    given), returned in the order of ``x``.

    Shape: ``x`` ``(N, ...)``; each output ``(N, ...)``.
    """
    if groups <= 1:
        return encode(x)
    n = x.shape[0]
    if n < groups:
        raise ValueError(f"cannot split a batch of {n} into {groups} BN groups (contrastive.shuffle_bn_groups)")
    perm = None
    if generator is not None:
        perm = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
        x = x[perm]
    parts = [encode(chunk) for chunk in x.chunk(groups)]
    out = tuple(torch.cat(p) for p in zip(*parts, strict=True))
    if perm is None:
        return out
    inverse = torch.argsort(perm)
    return tuple(t[inverse] for t in out)
