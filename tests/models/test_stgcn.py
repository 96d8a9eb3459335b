"""ST-GCN and ST-MLP: shapes, the stage plan as data, edge importance, MLP depth."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.config import EncoderConfig
from models.mlp import STMLP
from models.stgcn import STGCN


def test_shapes_and_temporal_strides(tiny_encoder, layout) -> None:
    enc = STGCN(tiny_encoder, **layout)
    x = torch.randn(2, 3, 12, 4, 2)
    assert enc.forward_features(x).shape == (2, 16)
    assert enc(x).shape == (2, 16)
    h = x
    h = h.permute(0, 4, 1, 2, 3).reshape(4, 3, 12, 4)
    for block in enc.blocks:
        h = block(h, enc.A)
    assert h.shape == (4, 16, 6, 4)  # T halved once by stride 2


def test_default_plan_is_the_lineage_reduced_width() -> None:
    enc = STGCN(EncoderConfig(), num_joints=4, edges=((1, 0), (2, 1), (3, 0)), center=0)
    widths = [b.tcn[2].out_channels for b in enc.blocks]
    assert widths == [16, 16, 16, 16, 32, 32, 32, 64, 64, 256]
    assert enc.fc.out_features == 128 and enc.num_features == 256
    assert enc.blocks[0].residual is None and isinstance(enc.blocks[4].residual, torch.nn.Sequential)


def test_full_width_plan_is_a_config_value_away() -> None:
    cfg = EncoderConfig(channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256))
    enc = STGCN(cfg, num_joints=4, edges=((1, 0), (2, 1), (3, 0)), center=0)
    assert enc(torch.randn(2, 3, 8, 4, 1)).shape == (2, 128)


def test_edge_importance_is_learnable_and_optional(tiny_encoder, layout) -> None:
    on = STGCN(tiny_encoder, **layout)
    off = STGCN(dataclasses.replace(tiny_encoder, edge_importance=False), **layout)
    assert all(b.importance is not None and b.importance.requires_grad for b in on.blocks)
    assert all(b.importance is None for b in off.blocks)


def test_graph_conv_matches_the_einsum_form(tiny_encoder, layout) -> None:
    """Aggregate-then-convolve equals st-gcn's convolve-then-einsum('nkctv,kvw->nctw') without bias."""
    gcn = STGCN(tiny_encoder, **layout).blocks[1].gcn
    torch.nn.init.zeros_(gcn.conv.bias)
    x, a = torch.randn(2, 8, 5, 4), torch.rand(3, 4, 4)
    c_out, k = gcn.conv.out_channels, 3
    w = gcn.conv.weight.view(c_out, k, 8)  # (C_out, K, C_in)
    ref = torch.einsum("nctv,okc,kvw->notw", x, w, a)
    torch.testing.assert_close(gcn(x, a), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_st_mlp_depths(tiny_encoder, layout, layers: int) -> None:
    h = STMLP(STGCN(tiny_encoder, **layout), hidden=32, layers=layers)
    assert len(h.head) == layers
    assert all([type(m).__name__ for m in blk] == ["Linear", "BatchNorm1d", "ReLU", "Linear"] for blk in h.head)
    assert h(torch.randn(3, 3, 8, 4, 2)).shape == (3, 16)
