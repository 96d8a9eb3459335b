"""ST-GCN: shapes, the stage plan as data, edge importance, and S streams in one module being exactly
S separate single-stream ST-GCNs (the fused kernels change speed, not numerics)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from crossmoco.models.config import EncoderConfig
from crossmoco.models.stgcn import STGCN


def test_shapes_and_temporal_strides(tiny_encoder, graph) -> None:
    enc = STGCN(tiny_encoder, graph, streams=2)
    x = torch.randn(2, 2, 3, 12, 4, 2)
    assert enc(x).shape == (2, 2, 16)
    h = x.permute(0, 5, 1, 2, 3, 4).reshape(4, 6, 12, 4)  # (N*M, S*C, T, V), skipping the input BN
    for block in enc.blocks:
        h = block(h, enc.A)
    assert h.shape == (4, 32, 6, 4)  # S * 16 channels; T halved once by stride 2


def test_default_plan_is_the_lineage_reduced_width(graph) -> None:
    enc = STGCN(EncoderConfig(), graph, streams=3)
    widths = [b.tcn[2].out_channels // 3 for b in enc.blocks]
    assert widths == [16, 16, 16, 16, 32, 32, 32, 64, 64, 256]
    assert all(b.tcn[2].groups == 3 for b in enc.blocks)
    assert enc.num_features == 256
    assert enc.blocks[0].residual is None and isinstance(enc.blocks[4].residual, torch.nn.Sequential)


def test_full_width_plan_is_a_config_value_away(graph) -> None:
    cfg = EncoderConfig(channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256))
    assert STGCN(cfg, graph)(torch.randn(2, 1, 3, 8, 4, 1)).shape == (2, 1, 256)


def test_edge_importance_is_learnable_and_optional(tiny_encoder, graph) -> None:
    on = STGCN(tiny_encoder, graph, streams=3)
    off = STGCN(dataclasses.replace(tiny_encoder, edge_importance=False), graph)
    assert all(b.importance is not None and b.importance.shape == (3, 3, 4, 4) for b in on.blocks)
    assert all(b.importance is None for b in off.blocks)


def test_graph_conv_matches_the_einsum_form(tiny_encoder, graph) -> None:
    """Aggregate-then-convolve equals st-gcn's convolve-then-einsum('nkctv,kvw->nctw') without bias."""
    gcn = STGCN(tiny_encoder, graph).blocks[1].gcn
    torch.nn.init.zeros_(gcn.conv.bias)
    x, a = torch.randn(2, 8, 5, 4), torch.rand(1, 3, 4, 4)
    w = gcn.conv.weight.view(8, 3, 8)  # (C_out, K, C_in)
    ref = torch.einsum("nctv,okc,kvw->notw", x, w, a[0])
    torch.testing.assert_close(gcn(x, a), ref, rtol=1e-4, atol=1e-5)


def _copy_stream(stacked: STGCN, single: STGCN, s: int, streams: int) -> None:
    """Load stream ``s`` of a stacked ST-GCN into a single-stream one (every tensor is S equal slices
    along its first dimension, except the input BN's, which is laid out (S, V, C))."""
    for (_, big), (_, small) in zip(stacked.state_dict().items(), single.state_dict().items(), strict=True):
        if big.dim() == 0:
            small.copy_(big)
            continue
        small.copy_(big.chunk(streams, dim=0)[s].reshape(small.shape))


@pytest.mark.parametrize("streams", [2, 3])
def test_stacked_streams_equal_separate_encoders(tiny_encoder, graph, streams: int) -> None:
    stacked = STGCN(tiny_encoder, graph, streams=streams).train()
    x = torch.randn(5, streams, 3, 8, 4, 2)
    out = stacked(x)
    for s in range(streams):
        single = STGCN(tiny_encoder, graph, streams=1).train()
        with torch.no_grad():
            _copy_stream(stacked, single, s, streams)
        torch.testing.assert_close(out[:, s], single(x[:, s : s + 1])[:, 0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("streams", [1, 3])
def test_channels_last_layout_changes_speed_not_numerics(tiny_encoder, graph, streams: int) -> None:
    """encoder.channels_last: the same features and gradients as NCHW memory on the same weights;
    its activations are channels-last (what the convolutions get) and pooling reads them as such."""
    torch.manual_seed(0)
    nchw = STGCN(dataclasses.replace(tiny_encoder, channels_last=False), graph, streams=streams).train()
    last = STGCN(tiny_encoder, graph, streams=streams).train()
    last.load_state_dict(nchw.state_dict())
    x = torch.randn(5, streams, 3, 8, 4, 2)
    outs, grads = [], []
    for model in (nchw, last):
        out = model(x)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outs.append(out)
        grads.append({k: p.grad for k, p in model.named_parameters()})
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-5)
    for k, g in grads[0].items():  # atol: a conv bias before BatchNorm has an exact gradient of 0, so what both
        # layouts compute for it is float32 cancellation noise over N*T*V terms (~1e-5), summed in different orders
        torch.testing.assert_close(grads[1][k], g, rtol=1e-4, atol=1e-4, msg=k)
    h = last.blocks[0](x.permute(0, 5, 1, 2, 3, 4).reshape(10, streams * 3, 8, 4), last.A)
    assert h.is_contiguous(memory_format=torch.channels_last)
