"""The one entry point the pipeline calls: a model of every method by name, from configs and a graph.

Every model runs all its streams (Eq. 9) as one module whose tensors carry the stream axis S. The
contrastive methods (``crossmoco``, ``skeletonclr``) have the Algorithm 1 interface
``momentum_update(m) -> forward(x1, x2, generator) -> loss(out, crossed) -> enqueue(out)`` with
one loss per stream; ``random`` is CrossMoCo's model left at its initialisation (the control every
self-supervised figure needs); ``supervised`` is an ST-GCN classifier per stream. All of them
have ``features(x, which)`` for the evaluation protocols.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from crossmoco.models.classifier import Classifier
from crossmoco.models.config import ContrastiveConfig, EncoderConfig, Method
from crossmoco.models.crossmoco import CrossEncoders, CrossMoCo
from crossmoco.models.graph import SkeletonGraph
from crossmoco.models.heads import Encoder, GroupedLinear, mlp_head, skeletonclr_projector
from crossmoco.models.moco import MoCo
from crossmoco.models.stgcn import STGCN


def gcn_encoder(enc: EncoderConfig, graph: SkeletonGraph, streams: int) -> Encoder:
    """f: an ST-GCN and its linear projection to the embedding (the lineage's ``fc``)."""
    backbone = STGCN(enc, graph, streams=streams)
    return Encoder(backbone, GroupedLinear(streams, backbone.num_features, enc.embed_dim))


def _crossmoco(enc: EncoderConfig, con: ContrastiveConfig, graph: SkeletonGraph, streams: int, _: int) -> nn.Module:
    """CrossMoCo; Table II's single-encoder rows are momentum contrast on f or on h alone."""
    f = gcn_encoder(enc, graph, streams)
    head = mlp_head(streams, enc.embed_dim, enc.mlp_hidden, enc.mlp_layers)
    if con.encoders == "gcn":
        return MoCo(f, con, dim=enc.embed_dim, streams=streams)
    if con.encoders == "mlp":
        h = Encoder(f.backbone, nn.Sequential(f.projector, head))
        return MoCo(h, con, dim=enc.embed_dim, streams=streams)
    h_base = None if enc.mlp_shared_backbone else gcn_encoder(enc, graph, streams)
    return CrossMoCo(CrossEncoders(f, head, h_base), con, dim=enc.embed_dim, streams=streams)


def _skeletonclr(enc: EncoderConfig, con: ContrastiveConfig, graph: SkeletonGraph, streams: int, _: int) -> nn.Module:
    """SkeletonCLR (Li et al. 2021): MoCo with its MLP projector, InfoNCE."""
    backbone = STGCN(enc, graph, streams=streams)
    projector = skeletonclr_projector(streams, backbone.num_features, enc.embed_dim)
    return MoCo(Encoder(backbone, projector), con, dim=enc.embed_dim, streams=streams)


def _supervised(
    enc: EncoderConfig, con: ContrastiveConfig, graph: SkeletonGraph, streams: int, classes: int
) -> nn.Module:
    if classes < 1:
        raise ValueError("a supervised model needs num_classes >= 1")
    backbone = STGCN(enc, graph, streams=streams)
    return Classifier(backbone, num_features=backbone.num_features, num_classes=classes, streams=streams)


BUILDERS: dict[str, Callable[[EncoderConfig, ContrastiveConfig, SkeletonGraph, int, int], nn.Module]] = {
    "crossmoco": _crossmoco,
    "random": _crossmoco,  # the same encoders, never trained
    "skeletonclr": _skeletonclr,
    "supervised": _supervised,
}


def build_model(
    method: Method, enc: EncoderConfig, con: ContrastiveConfig, graph: SkeletonGraph, *, streams: int,
    num_classes: int = 0,
) -> nn.Module:  # fmt: skip
    """The model of ``method`` over ``streams`` input streams of the skeleton ``graph``."""
    if method not in BUILDERS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(BUILDERS)}")
    if streams < 1:
        raise ValueError("a model needs at least one stream")
    return BUILDERS[method](enc, con, graph, streams, num_classes)
