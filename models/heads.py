"""What sits on the pooled ST-GCN feature: projectors to the embedding, ST-MLP's MLP (Fig. 3), and
the ``Encoder`` that composes a backbone with its projector (passed in, never swapped in later).

Every layer here is per stream: ``GroupedLinear`` holds S independent ``nn.Linear`` weights and
applies them in one batched matmul, and a BatchNorm over ``S * width`` features is S independent
BatchNorms. Shapes carry the stream axis: ``(N, S, F)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GroupedLinear(nn.Module):
    """S independent linear layers, initialised as ``nn.Linear`` each.

    Shape: ``(N, S, in_features)`` -> ``(N, S, out_features)``.
    """

    def __init__(self, streams: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default init (kaiming_uniform with a = sqrt(5))
        self.weight = nn.Parameter(torch.empty(streams, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(streams, out_features).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x.transpose(0, 1), self.weight).transpose(0, 1)


class StreamBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the features of every stream (S x width independent channels).

    Shape: ``(N, S, F)`` -> ``(N, S, F)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        n, s, f = x.shape
        return super().forward(x.reshape(n, s * f)).view(n, s, f)


def mlp_block(streams: int, in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """FC -> BN -> ReLU -> FC (Fig. 3). Shape: ``(N, S, in_dim)`` -> ``(N, S, out_dim)``."""
    return nn.Sequential(
        GroupedLinear(streams, in_dim, hidden),
        StreamBatchNorm(streams * hidden),
        nn.ReLU(inplace=True),
        GroupedLinear(streams, hidden, out_dim),
    )


def mlp_head(streams: int, dim: int, hidden: int, layers: int) -> nn.Sequential:
    """ST-MLP's MLP: ``layers`` stacked Fig. 3 blocks, ``dim`` -> ``dim`` (Table IV: 1, 2 or 3).

    Shape: ``(N, S, dim)`` -> ``(N, S, dim)``.
    """
    if layers < 1:
        raise ValueError("an MLP head needs at least one block")
    return nn.Sequential(*(mlp_block(streams, dim, hidden, dim) for _ in range(layers)))


def skeletonclr_projector(streams: int, in_dim: int, out_dim: int) -> nn.Sequential:
    """SkeletonCLR's projector (its ``mlp=True``): Linear(F, F) -> ReLU -> Linear(F, out)."""
    return nn.Sequential(GroupedLinear(streams, in_dim, in_dim), nn.ReLU(inplace=True),
                         GroupedLinear(streams, in_dim, out_dim))  # fmt: skip


class Encoder(nn.Module):
    """A backbone and its projector: ``forward`` is the embedding, ``features`` the pooled feature.

    Shape: ``(N, S, C, T, V, M)`` -> ``forward`` ``(N, S, D)``, ``features`` ``(N, S, F)``.
    """

    def __init__(self, backbone: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        self.backbone, self.projector = backbone, projector

    def features(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.projector(self.backbone(x))
