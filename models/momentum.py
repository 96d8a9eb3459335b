"""The momentum (key) encoder update of MoCo, Eq. (1) of the paper.

Eq. (1) is printed as ``theta_k <- theta_k + (1 - m) theta_q``, which drops MoCo's factor ``m`` on
``theta_k`` (with it, the key weights would grow without bound). We implement the update of the
MoCo paper it cites (He et al. 2020, Eq. 2):

    theta_k <- m * theta_k + (1 - m) * theta_q

so ``m = 1`` keeps the key encoder and ``m = 0`` copies the query encoder. ``m`` is passed in at
every call; a schedule, if any, belongs to the training loop. Only parameters are averaged: buffers
such as BatchNorm running statistics stay the key encoder's own, as in MoCo.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import Tensor, nn


@torch.no_grad()
def momentum_update_(key_params: Iterable[Tensor], query_params: Iterable[Tensor], m: float) -> None:
    """In place: ``k <- m k + (1 - m) q`` for each pair (one fused foreach call)."""
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum m must be in [0, 1], got {m}")
    keys, queries = list(key_params), list(query_params)
    if len(keys) != len(queries):
        raise ValueError("key and query parameter lists differ in length")
    if keys:
        torch._foreach_lerp_(keys, [q.detach() for q in queries], 1.0 - m)


def key_copy(query: nn.Module) -> nn.Module:
    """A frozen deep copy of ``query``: the key (momentum) encoder at ``theta_k = theta_q``.

    Copying one module keeps parameter sharing inside it (a shared ST-GCN stays shared).
    """
    key = copy.deepcopy(query)
    for p in key.parameters():
        p.requires_grad_(False)
    return key
