"""Every Table II-IV variant (and SkeletonCLR) builds from config and learns its pretext task.

Synthetic task: a pool of 64 random skeletons; each step draws 16 and makes two noisy views, so the
banks hold other samples' keys. What is checked is a value, not "the loss falls": the query
encoder's embedding of the pool (train mode, as pretraining sees it), measured as the gap between
the cosine of a sample's two views and the mean cosine between different samples (Wang & Isola's
alignment and uniformity in one number). At initialisation ReLU and average pooling put every
sample in nearly one direction (gap ~0.07 here); the pretext task must spread them apart while
keeping views together: the gap must at least double in 40 steps (or grow by 0.1 where a BatchNorm head
already spreads them at initialisation).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from crossmoco.models.config import ContrastiveConfig
from crossmoco.models.registry import build_model

ROWS = {
    "II/ST-GCN": ({}, {"encoders": "gcn"}, "crossmoco"),
    "II/ST-MLP": ({}, {"encoders": "mlp"}, "crossmoco"),
    "II/uncrossed": ({}, {"encoders": "uncrossed"}, "crossmoco"),
    "II/crossed": ({}, {"encoders": "crossed"}, "crossmoco"),
    "III/1 bank": ({}, {"num_banks": 1}, "crossmoco"),
    "III/3 banks": ({}, {"num_banks": 3}, "crossmoco"),
    "IV/2 MLP layers": ({"mlp_layers": 2}, {}, "crossmoco"),
    "own ST-GCN for ST-MLP": ({"mlp_shared_backbone": False}, {}, "crossmoco"),
    "InfoNCE form": ({}, {"form": "infonce"}, "crossmoco"),
    "shuffled BN": ({}, {"shuffle_bn_groups": 2}, "crossmoco"),
    "SkeletonCLR": ({}, {"form": "infonce"}, "skeletonclr"),
}
POOL = 64


def _views(pool: torch.Tensor, idx: torch.Tensor, g: torch.Generator) -> list[torch.Tensor]:
    base = pool[idx]
    return [base + 0.05 * torch.randn(base.shape, generator=g) for _ in "12"]


@torch.no_grad()
def _gap(model, pool: torch.Tensor, g: torch.Generator) -> float:
    """Mean cosine of positive pairs minus mean cosine of different samples (query side, stream 0)."""
    x1, x2 = _views(pool, torch.arange(POOL), g)
    out1, out2 = model(x1, x1), model(x2, x2)
    q1, q2 = F.normalize(out1[0][:, 0], dim=-1), F.normalize(out2[0][:, 0], dim=-1)
    sim = q1 @ q2.T
    off = ~torch.eye(POOL, dtype=torch.bool)
    return float(sim.diagonal().mean() - sim[off].mean())


@pytest.mark.parametrize("row", list(ROWS))
def test_variant_learns_its_pretext_task(tiny_encoder, graph, row: str) -> None:
    enc_changes, con_changes, method = ROWS[row]
    enc = dataclasses.replace(tiny_encoder, **enc_changes)
    con = ContrastiveConfig(queue_size=32, **con_changes)
    torch.manual_seed(0)
    model = build_model(method, enc, con, graph, streams=2)
    g = torch.Generator().manual_seed(0)
    pool = torch.randn(POOL, 2, 3, 8, 4, 1, generator=g)
    before = _gap(model, pool, g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(40):
        model.momentum_update(0.9)
        out = model(*_views(pool, torch.randperm(POOL, generator=g)[:16], g), g)
        loss = model.loss(out, crossed=step >= 20).sum()  # uncrossed first, as the paper
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.enqueue(out)
    after = _gap(model, pool, g)
    assert torch.isfinite(loss)
    assert after >= before + min(before, 0.1), (before, after)  # doubles, or +0.1 when it starts spread (BN heads)
