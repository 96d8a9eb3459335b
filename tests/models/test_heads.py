"""Per-stream heads: GroupedLinear and StreamBatchNorm are S independent layers; Fig. 3's MLP."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from crossmoco.models.heads import GroupedLinear, StreamBatchNorm, mlp_head, skeletonclr_projector


def test_grouped_linear_is_one_linear_layer_per_stream() -> None:
    layer = GroupedLinear(3, 5, 2)
    x = torch.randn(4, 3, 5)
    for s in range(3):
        ref = nn.Linear(5, 2)
        with torch.no_grad():
            ref.weight.copy_(layer.weight[s].T)
            ref.bias.copy_(layer.bias[s])
        torch.testing.assert_close(layer(x)[:, s], ref(x[:, s]))


def test_grouped_linear_by_hand() -> None:
    """One stream, W = [[1, 2], [3, 4]] (in x out), b = [1, -1]: x = [1, 1] -> [1+3+1, 2+4-1] = [5, 5]."""
    layer = GroupedLinear(1, 2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]))
        layer.bias.copy_(torch.tensor([[1.0, -1.0]]))
    assert layer(torch.ones(1, 1, 2)).tolist() == [[[5.0, 5.0]]]


def test_stream_batchnorm_normalises_each_stream_feature_on_its_own() -> None:
    bn = StreamBatchNorm(2 * 3, affine=False).train()
    x = torch.randn(16, 2, 3) * torch.tensor([1.0, 10.0])[None, :, None] + 5
    y = bn(x)
    torch.testing.assert_close(y.mean(dim=0), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=0, unbiased=False), torch.ones(2, 3), atol=1e-3, rtol=0)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_fig3_mlp_blocks(layers: int) -> None:
    head = mlp_head(2, 16, 32, layers)
    names = [[type(m).__name__ for m in block] for block in head]
    assert names == [["GroupedLinear", "StreamBatchNorm", "ReLU", "GroupedLinear"]] * layers
    assert head(torch.randn(3, 2, 16)).shape == (3, 2, 16)


def test_skeletonclr_projector_shape() -> None:
    proj = skeletonclr_projector(3, 8, 4)
    assert [type(m).__name__ for m in proj] == ["GroupedLinear", "ReLU", "GroupedLinear"]
    assert proj(torch.randn(2, 3, 8)).shape == (2, 3, 4)
