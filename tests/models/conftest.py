"""Tiny shapes shared by the model tests: a toy graph and a narrow encoder."""

from __future__ import annotations

import pytest
import torch

from crossmoco.models.config import ContrastiveConfig, EncoderConfig
from crossmoco.models.graph import SkeletonGraph

# A 4-joint toy skeleton: 0 is the centre, 1 hangs off 0, 2 off 1, 3 off 0 (0-based (child, parent)).
TOY = SkeletonGraph(4, ((1, 0), (2, 1), (3, 0)), 0)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin-waits when other processes share the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def graph() -> SkeletonGraph:
    return TOY


@pytest.fixture
def tiny_encoder() -> EncoderConfig:
    return EncoderConfig(channels=(8, 8, 16), strides=(1, 2, 1), dropout=0.0, embed_dim=16, mlp_hidden=16)


@pytest.fixture
def tiny_contrastive() -> ContrastiveConfig:
    return ContrastiveConfig(queue_size=32)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two views ``(N, S, C, T, V, M) = (4, 2, 3, 8, 4, 2)``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, 3, 8, 4, 2, generator=g)
    return x, x + 0.1 * torch.randn(x.shape, generator=g)
