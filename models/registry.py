"""The one entry point the pipeline calls: pretraining methods by name, and the classifier.

Every method has the Algorithm 1 interface (``momentum_update(m) -> forward(x1, x2) ->
loss(out, crossed) -> enqueue(out)``, ``features(x, which)``) and is wrapped per stream by
``MultiStream`` with Eq. (10)'s weights (``ContrastiveConfig.stream_weights``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from models.baselines import SkeletonCLR, STGCNClassifier
from models.config import ContrastiveConfig, EncoderConfig
from models.crossmoco import CrossMoCo
from models.multistream import MultiStream

Method = Literal["crossmoco", "skeletonclr"]
METHODS: dict[str, type[CrossMoCo] | type[SkeletonCLR]] = {"crossmoco": CrossMoCo, "skeletonclr": SkeletonCLR}


def build_model(
    encoder_cfg: EncoderConfig,
    contrastive_cfg: ContrastiveConfig,
    *,
    num_joints: int,
    edges: Sequence[tuple[int, int]],
    center: int,
    in_channels: int = 3,
    method: Method = "crossmoco",
) -> MultiStream:
    """A pretraining model: one ``method`` model per stream of positive weight.

    ``edges`` are 0-based ``(child, parent)`` pairs and ``center`` a 0-based joint.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    cls = METHODS[method]

    def one_stream() -> CrossMoCo | SkeletonCLR:
        return cls(
            encoder_cfg, contrastive_cfg, num_joints=num_joints, edges=edges, center=center, in_channels=in_channels
        )

    return MultiStream(one_stream, contrastive_cfg.stream_weights)


def build_classifier(
    encoder_cfg: EncoderConfig,
    num_classes: int,
    *,
    num_joints: int,
    edges: Sequence[tuple[int, int]],
    center: int,
    in_channels: int = 3,
) -> STGCNClassifier:
    """The supervised ST-GCN baseline."""
    return STGCNClassifier(
        encoder_cfg, num_classes, num_joints=num_joints, edges=edges, center=center, in_channels=in_channels
    )
