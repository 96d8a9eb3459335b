"""A reference-style pretraining step, built the way the CrosSCLR / SkeletonCLR code does it.

Per stream: one query and one key ST-GCN (the reduced-width plan, fp32), the graph convolution as
``conv(C_in -> K*C_out)`` followed by ``einsum('nkctv,kvw->nctw')`` (st-gcn ``net/utils/tgcn.py``),
an MLP projector, one queue, MoCo's loss as cross-entropy over ``[l_pos, l_neg]``, a Python loop
for the momentum update. Used only by ``bench/bench_step.py`` to put our step's figures next to a
step of that code's shape in the same process; it is not part of the method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmoco.models.graph import spatial_partition

PLAN = ((16, 1), (16, 1), (16, 1), (16, 1), (32, 2), (32, 1), (32, 1), (64, 2), (64, 1), (256, 1))


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, v: int, residual: bool, dropout: float) -> None:
        super().__init__()
        self.gcn = nn.Conv2d(c_in, 3 * c_out, 1)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, (9, 1), (stride, 1), (4, 0)), nn.BatchNorm2d(c_out), nn.Dropout(dropout),
        )  # fmt: skip
        if not residual:
            self.res = None
        elif c_in == c_out and stride == 1:
            self.res = nn.Identity()
        else:
            self.res = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))
        self.importance = nn.Parameter(torch.ones(3, v, v))

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        y = self.gcn(x)
        n, kc, t, v = y.shape
        y = torch.einsum("nkctv,kvw->nctw", y.view(n, 3, kc // 3, t, v), a * self.importance)
        y = self.tcn(y.contiguous())
        return F.relu(y + (0 if self.res is None else self.res(x)))


class ReferenceSTGCN(nn.Module):
    """st-gcn ``Model`` as SkeletonCLR configures it (``hidden_channels=16, hidden_dim=256, mlp``)."""

    def __init__(self, v: int, edges, center: int, embed: int = 128) -> None:
        super().__init__()
        self.register_buffer("A", spatial_partition(v, edges, center))
        self.data_bn = nn.BatchNorm1d(3 * v)
        widths = [3] + [c for c, _ in PLAN]
        self.blocks = nn.ModuleList(
            _Block(widths[i], widths[i + 1], s, v, residual=i > 0, dropout=0.0 if i == 0 else 0.5)
            for i, (_, s) in enumerate(PLAN)
        )
        self.fc = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, embed))

    def features(self, x: Tensor) -> Tensor:
        """The pooled ST-GCN feature (N, 256)."""
        n, c, t, v, m = x.size()
        x = x.permute(0, 4, 3, 1, 2).contiguous().view(n * m, v * c, t)
        x = self.data_bn(x)
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous().view(n * m, c, t, v)
        for block in self.blocks:
            x = block(x, self.A)
        return F.avg_pool2d(x, x.size()[2:]).view(n, m, -1, 1, 1).mean(dim=1).view(n, -1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


class ReferenceMoCo(nn.Module):
    """One stream: query and key ST-GCN, one queue of K keys, InfoNCE."""

    def __init__(self, v: int, edges, center: int, k: int = 16384, m: float = 0.999, t: float = 0.07) -> None:
        super().__init__()
        self.encoder_q = ReferenceSTGCN(v, edges, center)
        self.encoder_k = ReferenceSTGCN(v, edges, center)
        for p_q, p_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True):
            p_k.data.copy_(p_q.data)
            p_k.requires_grad = False
        self.k, self.m, self.t = k, m, t
        self.register_buffer("queue", F.normalize(torch.randn(128, k), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def forward(self, im_q: Tensor, im_k: Tensor) -> Tensor:
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            for p_q, p_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True):
                p_k.data = p_k.data * self.m + p_q.data * (1.0 - self.m)
            k = F.normalize(self.encoder_k(im_k), dim=1)
        return self.contrast(q, k)

    def contrast(self, q: Tensor, k: Tensor) -> Tensor:
        """InfoNCE of normalised queries against their keys and the queue, then the keys enqueued."""
        l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q, self.queue.clone().detach())
        logits = torch.cat([l_pos, l_neg], dim=1) / self.t
        loss = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))
        ptr = int(self.queue_ptr)
        b = k.shape[0]
        self.queue[:, ptr : ptr + b] = k.T  # needs K % batch == 0, as the original
        self.queue_ptr[0] = (ptr + b) % self.k
        return loss
