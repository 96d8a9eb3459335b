"""ST-GCN backbone (Yan et al. 2018) for S input streams at once, over ``(N, S, C, T, V, M)``.

Letters used in shapes: N batch, S streams (joint, motion, bone: §III-C), C channels, T frames, V
joints (input side), W joints (output side of a graph convolution, same count), M bodies, K graph
partitions (3), F pooled feature width.

Each stream has its own weights (Eq. 9 trains one encoder per stream), but the S encoders run as
one: every convolution is grouped (``groups=S``), every BatchNorm has S x channels (BatchNorm is
per channel, so this is exactly S independent BatchNorms), and the graph aggregation is one
batched matmul with a per-stream adjacency. Mathematically it is S separate ST-GCNs; it launches
S times fewer, S times larger kernels (``bench/bench_step.py`` measures the gain).

The architecture follows st-gcn / SkeletonCLR / CrosSCLR ``net/st_gcn.py``: an input BatchNorm
over (V, C), blocks ``relu(tcn(gcn(x)) + residual(x))`` whose widths and temporal strides come
from ``EncoderConfig`` as data, and global average pooling over time, joints and bodies. The
projection to the embedding is not part of the backbone: methods pass their projector in
(``models/heads.py``). One deliberate difference in the graph convolution: partitions are
aggregated *before* the 1x1 convolution (one matmul with ``A`` laid out as ``(V, K*W)``) rather
than after it; the same linear map up to where the bias sits, and fewer multiply-adds whenever a
block widens (3->16, 64->256).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crossmoco.models.config import EncoderConfig
from crossmoco.models.graph import NUM_PARTITIONS, SkeletonGraph


class GraphConv(nn.Module):
    """Spatial graph convolution with K partitions, for S streams.

    Shape: ``x`` ``(N, S*C_in, T, V)``, ``a`` ``(S, K, V, W)`` -> ``(N, S*C_out, T, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, streams: int, *, channels_last: bool = False) -> None:
        super().__init__()
        self.streams, self.channels_last = streams, channels_last
        self.conv = nn.Conv2d(streams * NUM_PARTITIONS * in_channels, streams * out_channels, 1, groups=streams)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        n, sc, t, v = x.shape
        s, k, _, w = a.shape
        c = sc // s
        if self.channels_last:
            return self.conv(self._aggregate_channels_last(x, a))
        a_flat = a.permute(0, 2, 1, 3).reshape(s, v, k * w)  # (S, V, K*W)
        y = x.reshape(n, s, c * t, v) @ a_flat  # (N, S, C*T, K*W)
        y = y.view(n, s, c, t, k, w).permute(0, 1, 4, 2, 3, 5)  # (N, S, K, C, T, W), copied by the reshape
        return self.conv(y.reshape(n, s * k * c, t, w))

    @staticmethod
    def _aggregate_channels_last(x: Tensor, a: Tensor) -> Tensor:
        """The partition aggregation in channels-last memory: ``(N, S*C, T, V)`` -> ``(N, S*K*C, T, W)``.

        In ``(N, T, V, S, C)`` memory a joint is a row of each (frame, stream) matrix, so the
        adjacency multiplies from the left: per stream one batched matmul ``(W*K, V) @ (V, C)`` over
        the N*T frames (the adjacency broadcast, not copied), written as ``(N, T, W, S, K, C)``: the
        channels-last layout of the 1x1 convolution's input, channels ordered (stream, partition,
        channel) exactly as in the NCHW path.
        """
        n, sc, t, v = x.shape
        s, k, _, w = a.shape
        c = sc // s
        frames = x.permute(0, 2, 3, 1).reshape(n * t, v, s, c)  # a view when x is channels-last
        m = a.permute(0, 3, 1, 2).reshape(s, w * k, v)  # (S, W*K, V)
        ys = [torch.bmm(m[i].expand(n * t, w * k, v), xs).view(n * t, w, k, c) for i, xs in enumerate(frames.unbind(2))]
        return torch.stack(ys, dim=2).view(n, t, w, s * k * c).permute(0, 3, 1, 2)  # channels-last (N, S*K*C, T, W)


class STGCNBlock(nn.Module):
    """One ST-GCN block for S streams: graph convolution, temporal convolution, residual.

    Shape: ``(N, S*C_in, T, V)`` -> ``(N, S*C_out, ceil(T / stride), V)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, streams: int, num_joints: int, stride: int,
        temporal_kernel: int, dropout: float, residual: bool, edge_importance: bool, channels_last: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        s = streams
        self.gcn = GraphConv(in_channels, out_channels, s, channels_last=channels_last)
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(s * out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(s * out_channels, s * out_channels, (temporal_kernel, 1), (stride, 1), (pad, 0), groups=s),
            nn.BatchNorm2d(s * out_channels),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
        )
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(s * in_channels, s * out_channels, 1, stride=(stride, 1), groups=s),
                nn.BatchNorm2d(s * out_channels),
            )
        # st-gcn's edge importance: a learnable mask on A per block (and here per stream)
        shape = (s, NUM_PARTITIONS, num_joints, num_joints)
        self.importance = nn.Parameter(torch.ones(shape)) if edge_importance else None

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        if self.importance is not None:
            a = a * self.importance
        y = self.tcn(self.gcn(x, a.expand(self.gcn.streams, *a.shape[-3:])))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


class STGCN(nn.Module):
    """ST-GCN backbone of S streams: the pooled feature of each stream.

    The skeleton is data (a ``SkeletonGraph``); nothing here knows a dataset.

    Shape: ``x`` ``(N, S, C, T, V, M)`` -> ``(N, S, F)`` with ``F = cfg.channels[-1]``.
    """

    def __init__(self, cfg: EncoderConfig, graph: SkeletonGraph, *, streams: int = 1, in_channels: int = 3) -> None:
        super().__init__()
        self.streams, self.in_channels, self.num_joints = streams, in_channels, graph.num_joints
        self.register_buffer("A", graph.partition(), persistent=False)  # (K, V, V)
        self.data_bn = nn.BatchNorm1d(streams * in_channels * graph.num_joints)
        widths = (in_channels, *cfg.channels)
        self.blocks = nn.ModuleList(
            STGCNBlock(
                widths[i], widths[i + 1], streams=streams, num_joints=graph.num_joints, stride=cfg.strides[i],
                temporal_kernel=cfg.temporal_kernel,
                dropout=0.0 if i == 0 else cfg.dropout,  # st-gcn: no dropout, no residual in block 0
                residual=i > 0, edge_importance=cfg.edge_importance, channels_last=cfg.channels_last,
            )
            for i in range(len(cfg.channels))
        )  # fmt: skip
        self.num_features = cfg.channels[-1]

    def forward(self, x: Tensor) -> Tensor:
        n, s, c, t, v, m = x.shape
        x = x.permute(0, 5, 1, 4, 2, 3).reshape(n * m, s * v * c, t)  # (N*M, S*V*C, T)
        x = self.data_bn(x)
        x = x.view(n * m, s, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, s * c, t, v)  # (N*M, S*C, T, V)
        for block in self.blocks:
            x = block(x, self.A)
        # Global average pooling as a sum (accumulated in fp32 inside the kernel) over a view: mean() of a bf16
        # map first copies all of it to fp32, and mean(dim=(2, 3)) of a channels-last map copies it again
        if x.is_contiguous(memory_format=torch.channels_last):
            pooled = x.permute(0, 2, 3, 1).flatten(1, 2).sum(dim=1)  # (N*M, T*V, S*F) memory -> (N*M, S*F)
        else:
            pooled = x.flatten(2).sum(dim=2)
        return (pooled / (x.shape[2] * x.shape[3])).view(n, m, s, -1).mean(dim=1)  # (N, S, F)
