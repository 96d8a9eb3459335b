"""ST-GCN encoder (Yan et al. 2018) over the canonical layout ``(N, C, T, V, M)``.

Letters used in shapes: N batch, C channels, T frames, V joints (input side), W joints (output
side of a graph convolution, same count as V), M bodies, K graph partitions (3).

The architecture follows st-gcn / SkeletonCLR / CrosSCLR ``net/st_gcn.py``: an input BatchNorm over
(V, C), a stack of blocks ``relu(tcn(gcn(x)) + residual(x))`` whose channels and temporal strides
come from ``EncoderConfig`` as data, global average pooling over time, joints and bodies, then a
linear layer to the embedding. One deliberate difference in the graph convolution: the partitions
are aggregated *before* the 1x1 convolution (one matmul with ``A`` laid out as ``(V, K*W)``)
instead of after it with an einsum. It is the same linear map up to where the bias sits (here one
bias per output channel; st-gcn's bias also passes through ``A``), costs the same multiply-adds in
the convolution and fewer in the aggregation whenever the block widens (3->16, 64->256).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from models.config import EncoderConfig
from models.graph import spatial_partition


class GraphConv(nn.Module):
    """Spatial graph convolution with K partitions and learnable edge importance.

    Shape: ``x`` ``(N, C_in, T, V)``, ``a`` ``(K, V, W)`` -> ``(N, C_out, T, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_partitions * in_channels, out_channels, kernel_size=1)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        n, c, t, v = x.shape
        k, _, w = a.shape
        a_flat = a.permute(1, 0, 2).reshape(v, k * w)  # (V, K*W)
        y = x.reshape(n, c * t, v) @ a_flat  # (N, C*T, K*W)
        y = y.view(n, c, t, k, w).permute(0, 3, 1, 2, 4).reshape(n, k * c, t, w)  # (N, K*C, T, W)
        return self.conv(y)


class STGCNBlock(nn.Module):
    """One ST-GCN block: graph convolution, temporal convolution, residual.

    Shape: ``(N, C_in, T, V)`` -> ``(N, C_out, ceil(T / stride), V)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        num_joints: int,
        stride: int,
        temporal_kernel: int,
        dropout: float,
        residual: bool,
        edge_importance: bool,
    ) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, num_partitions=3)
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                nn.BatchNorm2d(out_channels),
            )
        # st-gcn's edge importance: a learnable mask on A, one per block; a fixed 1 when off
        shape = (3, num_joints, num_joints)
        self.importance = nn.Parameter(torch.ones(shape)) if edge_importance else None

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        if self.importance is not None:
            a = a * self.importance
        y = self.tcn(self.gcn(x, a))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


class STGCN(nn.Module):
    """ST-GCN encoder: ``forward_features`` gives the pooled feature, ``forward`` the embedding.

    The layout is data: ``num_joints``, 0-based ``(child, parent)`` ``edges`` and the ``center``
    joint; nothing here knows a dataset. ``embed_dim=None`` takes ``cfg.embed_dim``; a classifier
    passes its class count.

    Shape: ``x`` ``(N, C, T, V, M)`` -> ``forward_features`` ``(N, cfg.channels[-1])``,
    ``forward`` ``(N, embed_dim)``.
    """

    def __init__(
        self,
        cfg: EncoderConfig,
        *,
        num_joints: int,
        edges: Sequence[tuple[int, int]],
        center: int,
        in_channels: int = 3,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("A", spatial_partition(num_joints, edges, center), persistent=False)
        self.data_bn = nn.BatchNorm1d(in_channels * num_joints)
        widths = (in_channels, *cfg.channels)
        self.blocks = nn.ModuleList(
            STGCNBlock(
                widths[i],
                widths[i + 1],
                num_joints=num_joints,
                stride=cfg.strides[i],
                temporal_kernel=cfg.temporal_kernel,
                dropout=0.0 if i == 0 else cfg.dropout,  # st-gcn: no dropout, no residual in block 0
                residual=i > 0,
                edge_importance=cfg.edge_importance,
            )
            for i in range(len(cfg.channels))
        )
        self.num_features = cfg.channels[-1]
        self.fc = nn.Linear(self.num_features, cfg.embed_dim if embed_dim is None else embed_dim)

    def forward_features(self, x: Tensor) -> Tensor:
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t)  # (N*M, V*C, T)
        x = self.data_bn(x)
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)  # (N*M, C, T, V)
        for block in self.blocks:
            x = block(x, self.A)
        return x.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)  # (N, C_last)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))
