"""The supervised control: an ST-GCN classifier per stream (Yan et al. 2018; Table VII's 3s-ST-GCN).

Each stream's ST-GCN ends in its own linear layer to the classes and is trained with its own
cross-entropy (Eq. 10's weights sum them, as for the contrastive losses); the three-stream
prediction sums the streams' softmax scores, as the lineage's ensembles do. Its pooled features
are what a linear probe on a supervised encoder sees: the upper bound of any linear probe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmoco.models.heads import GroupedLinear


class Classifier(nn.Module):
    """Shape: ``x`` ``(N, S, C, T, V, M)`` -> logits ``(N, S, num_classes)``."""

    def __init__(self, backbone: nn.Module, *, num_features: int, num_classes: int, streams: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = GroupedLinear(streams, num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.backbone(x))

    @staticmethod
    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy of each stream. Shape: ``(N, S, classes)``, ``(N,)`` -> ``(S,)``."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            per_sample = F.cross_entropy(logits.float().permute(0, 2, 1), labels[:, None].expand(-1, logits.shape[1]),
                                         reduction="none")  # (N, S)
        return per_sample.mean(dim=0)

    @staticmethod
    def scores(logits: Tensor) -> Tensor:
        """The streams' ensemble: summed softmax scores. Shape: ``(N, S, classes)`` -> ``(N, classes)``."""
        return logits.float().softmax(dim=-1).sum(dim=1)

    def features(self, x: Tensor, which: str = "both") -> Tensor:
        """Pooled features of each stream (one encoder: ``which`` has no choice). Shape: -> ``(N, S, F)``."""
        return self.backbone(x)
