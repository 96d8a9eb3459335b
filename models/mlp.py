"""ST-MLP (Fig. 3): an ST-GCN followed in series by an MLP head.

Each MLP block is FC -> BatchNorm -> ReLU -> FC (Fig. 3); ``mlp_layers`` blocks are stacked
(Table IV: 1, 2 or 3; one is the paper's best). Our reading: the head takes the ST-GCN's embedding
(``embed_dim``) and returns an embedding of the same size, each block widening to ``mlp_hidden``
in between ("ST-GCN and MLP in series", §III-B).

Whether ST-MLP owns its ST-GCN or shares the base encoder's is not stated. The default is an own
copy (the paper speaks of "two encoders"); ``EncoderConfig.mlp_shared_backbone`` shares the
module, in which case the two query (and the two key) embeddings come from one backbone pass.
"""

from __future__ import annotations

from torch import Tensor, nn

from models.stgcn import STGCN


def mlp_block(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """FC -> BN -> ReLU -> FC (Fig. 3). Shape: ``(N, in_dim)`` -> ``(N, out_dim)``."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim),
    )


def mlp_head(dim: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` stacked MLP blocks, ``dim`` -> ``dim``. Shape: ``(N, dim)`` -> ``(N, dim)``."""
    if layers < 1:
        raise ValueError("an MLP head needs at least one block")
    return nn.Sequential(*(mlp_block(dim, hidden, dim) for _ in range(layers)))


class STMLP(nn.Module):
    """``h(x) = head(backbone(x))``; ``forward_features`` is the backbone's pooled feature.

    Shape: ``x`` ``(N, C, T, V, M)`` -> ``(N, embed_dim)``.
    """

    def __init__(self, backbone: STGCN, *, hidden: int, layers: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = mlp_head(backbone.fc.out_features, hidden, layers)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.backbone.forward_features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))
