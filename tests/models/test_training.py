"""Every Table II-IV variant builds from config and trains a few CPU steps with a falling loss.

Synthetic data: a pool of 256 random skeletons; each step draws 16 and makes two noisy views, so
the banks hold other samples' keys. The banks are warmed with two forward-only steps first
(random initial negatives make the paper-form loss of step 0 meaninglessly low).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.config import ContrastiveConfig
from models.registry import build_model

ROWS = {
    "II/ST-GCN": ({}, {"encoders": "gcn"}),
    "II/ST-MLP": ({}, {"encoders": "mlp"}),
    "II/uncrossed": ({}, {"encoders": "uncrossed"}),
    "II/crossed": ({}, {"encoders": "crossed"}),
    "III/1 bank": ({}, {"num_banks": 1}),
    "III/3 banks": ({}, {"num_banks": 3}),
    "IV/2 MLP layers": ({"mlp_layers": 2}, {}),
    "IV/3 MLP layers": ({"mlp_layers": 3}, {}),
    "shared ST-GCN": ({"mlp_shared_backbone": True}, {}),
    "InfoNCE form": ({}, {"form": "infonce"}),
    "SkeletonCLR": ({}, {"method": "skeletonclr"}),
}


def _train(model, steps: int, cross_start: int) -> list[float]:
    g = torch.Generator().manual_seed(0)
    pool = torch.randn(256, 3, 8, 4, 1, generator=g)

    def views() -> list[dict[str, torch.Tensor]]:
        base = pool[torch.randperm(256, generator=g)[:16]]
        return [{s: base + 0.1 * torch.randn(base.shape, generator=g) for s in ("joint", "bone")} for _ in "12"]

    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with torch.no_grad():
        for _ in range(2):
            model.enqueue(model(*views()))
    losses = []
    for step in range(steps):
        model.momentum_update(0.9)
        out = model(*views())
        loss = model.loss(out, crossed=step >= cross_start).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.enqueue(out)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("row", list(ROWS))
def test_variant_trains_with_falling_loss(tiny_encoder, layout, row: str) -> None:
    enc_changes, con_changes = ROWS[row]
    con_changes = dict(con_changes)
    method = con_changes.pop("method", "crossmoco")
    enc = dataclasses.replace(tiny_encoder, **enc_changes)
    con = ContrastiveConfig(queue_size=64, weight_motion=0.0, weight_bone=0.5, **con_changes)
    torch.manual_seed(0)
    model = build_model(enc, con, **layout, method=method)
    assert list(model.streams) == ["joint", "bone"]  # weight 0: motion is not built
    losses = _train(model, steps=15, cross_start=0)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses


def test_cross_training_switches_on_at_cross_start(tiny_encoder, layout) -> None:
    """Uncrossed for the first steps, crossed after: the loss stays finite across the switch."""
    torch.manual_seed(0)
    con = ContrastiveConfig(queue_size=64, weight_motion=0.0, weight_bone=0.5)
    model = build_model(tiny_encoder, con, **layout)
    losses = _train(model, steps=6, cross_start=3)
    assert all(torch.isfinite(torch.tensor(losses)))
