"""Momentum contrast over any encoder (MoCo, He et al. 2020): the single-encoder rows of Table II
(ST-GCN alone, ST-MLP alone) and SkeletonCLR (Li et al. 2021) are this module with different
encoders; the projector is part of the encoder passed in.

One step reads like Algorithm 1 with a single encoder::

    model.momentum_update(m)         # Eq. (1)
    out = model(x1, x2, generator)   # q = f(x1), k = f_key(x2)
    loss = model.loss(out)           # Eq. (2) (or Eq. 5's form without the positive below)
    model.enqueue(out)               # k -> bank

Every tensor carries the stream axis S (one model per stream of Eq. 9, run as one).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmoco.models.config import ContrastiveConfig
from crossmoco.models.heads import Encoder
from crossmoco.models.losses import chance_loss, moco_loss
from crossmoco.models.momentum import key_copy, momentum_update_
from crossmoco.models.queue import NegativeQueue
from crossmoco.models.shuffle_bn import encode_in_groups


class MoCoOutput(NamedTuple):
    """L2-normalised embeddings ``(N, S, D)``."""

    query: Tensor  # f(x1)
    key: Tensor  # f_key(x2), no gradient


class MoCo(nn.Module):
    """Query encoder, its momentum copy and one negative bank per stream.

    Shape: ``x1, x2`` ``(N, S, C, T, V, M)``.
    """

    def __init__(self, encoder: Encoder, cfg: ContrastiveConfig, *, dim: int, streams: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.query_encoder = encoder
        self.key_encoder = key_copy(encoder)
        self.bank = NegativeQueue(cfg.queue_size, dim, streams)

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        """Eq. (1): theta_k <- m theta_k + (1 - m) theta_q."""
        momentum_update_(self.key_encoder.parameters(), self.query_encoder.parameters(), m)

    def forward(self, x1: Tensor, x2: Tensor, generator: torch.Generator | None = None) -> MoCoOutput:
        groups = self.cfg.shuffle_bn_groups
        (q,) = encode_in_groups(lambda x: (F.normalize(self.query_encoder(x), dim=-1),), x1, groups)
        with torch.no_grad():
            (k,) = encode_in_groups(lambda x: (F.normalize(self.key_encoder(x), dim=-1),), x2, groups, generator)
        return MoCoOutput(q, k)

    def loss(self, out: MoCoOutput, crossed: bool = False) -> Tensor:
        """One loss per stream ``(S,)``; ``crossed`` has no meaning for one encoder."""
        with torch.autocast(device_type=out.query.device.type, enabled=False):  # logits in fp32
            q, k = out.query.float().transpose(0, 1), out.key.float().transpose(0, 1)  # (S, N, D)
            return moco_loss(q, k, self.bank.keys, tau=self.cfg.tau, form=self.cfg.form).loss

    def chance(self, crossed: bool = False) -> float:
        """The per-stream loss when nothing is learned (all similarities equal)."""
        return chance_loss([1.0], [(1.0, self.bank.size)], self.cfg.form)

    @torch.no_grad()
    def enqueue(self, out: MoCoOutput) -> None:
        self.bank.enqueue(out.key)

    def features(self, x: Tensor, which: str = "both") -> Tensor:
        """The pooled backbone feature of each stream (one encoder: ``which`` has no choice to make).

        Shape: ``(N, S, C, T, V, M)`` -> ``(N, S, F)``."""
        return self.query_encoder.features(x)
