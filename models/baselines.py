"""Baselines built from the same blocks: SkeletonCLR and a supervised ST-GCN classifier.

* ``SkeletonCLR`` (Li et al. 2021, the CrosSCLR paper's single-view model): MoCo with an ST-GCN
  whose last layer is an MLP projector (``Linear(256, 256) -> ReLU -> Linear(256, 128)``, as its
  ``net/skeletonclr.py`` with ``mlp=True``), one negative bank, InfoNCE (MoCo's Eq. 2). It has the
  same interface as ``CrossMoCo`` (``momentum_update -> forward -> loss -> enqueue``, ``features``)
  so the training loop and ``MultiStream`` take either.
* ``STGCNClassifier``: the supervised ST-GCN of Yan et al., the backbone with its last linear layer
  sized to the classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ContrastiveConfig, EncoderConfig
from models.crossmoco import FeatureKind
from models.losses import moco_loss
from models.momentum import key_copy, momentum_update_
from models.queue import NegativeQueue
from models.stgcn import STGCN


class MoCoOutput(NamedTuple):
    """L2-normalised embeddings ``(N, C)``."""

    query: Tensor  # f(x1)
    key: Tensor  # f_key(x2), no gradient


class SkeletonCLR(nn.Module):
    """MoCo on skeletons; ``crossed`` and ``which`` are accepted for interface parity and ignored.

    Shape: ``x1, x2`` ``(N, C, T, V, M)``.
    """

    def __init__(
        self,
        encoder_cfg: EncoderConfig,
        contrastive_cfg: ContrastiveConfig,
        *,
        num_joints: int,
        edges: Sequence[tuple[int, int]],
        center: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.cfg = contrastive_cfg
        enc = STGCN(encoder_cfg, num_joints=num_joints, edges=edges, center=center, in_channels=in_channels)
        width = enc.num_features
        enc.fc = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), enc.fc)  # the projector
        self.query_encoder = enc
        self.key_encoder = key_copy(enc)
        self.bank = NegativeQueue(contrastive_cfg.queue_size, encoder_cfg.embed_dim)

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        momentum_update_(self.key_encoder.parameters(), self.query_encoder.parameters(), m)

    def forward(self, x1: Tensor, x2: Tensor) -> MoCoOutput:
        q = F.normalize(self.query_encoder(x1), dim=1)
        with torch.no_grad():
            k = F.normalize(self.key_encoder(x2), dim=1)
        return MoCoOutput(q, k)

    def loss(self, out: MoCoOutput, crossed: bool = False) -> Tensor:
        with torch.autocast(device_type=out.query.device.type, enabled=False):
            q, k = out.query.float(), out.key.float()
            return moco_loss(q, k, self.bank.keys, tau=self.cfg.tau, form="infonce").loss

    @torch.no_grad()
    def enqueue(self, out: MoCoOutput) -> None:
        self.bank.enqueue(out.key)

    def features(self, x: Tensor, which: FeatureKind = "both") -> Tensor:
        """The pooled ST-GCN feature. Shape: ``(N, C, T, V, M)`` -> ``(N, F)``."""
        return self.query_encoder.forward_features(x)

    def feature_dim(self, which: FeatureKind = "both") -> int:
        return self.query_encoder.num_features


class STGCNClassifier(nn.Module):
    """Supervised ST-GCN: logits over ``num_classes``.

    Shape: ``(N, C, T, V, M)`` -> ``(N, num_classes)``.
    """

    def __init__(
        self,
        encoder_cfg: EncoderConfig,
        num_classes: int,
        *,
        num_joints: int,
        edges: Sequence[tuple[int, int]],
        center: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.backbone = STGCN(
            encoder_cfg, num_joints=num_joints, edges=edges, center=center, in_channels=in_channels,
            embed_dim=num_classes,
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)
