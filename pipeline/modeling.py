"""The bridge from the configuration and a dataset's skeleton to the models/ package."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from datasets.skeleton import SkeletonLayout
from pipeline.config import Config


@dataclass(frozen=True)
class DataInfo:
    """What the models need to know of a preprocessed dataset."""

    dataset: str
    num_joints: int
    edges0: tuple[tuple[int, int], ...]
    center0: int
    parents0: tuple[int, ...]
    num_classes: int
    data_hash: str

    @classmethod
    def of(cls, dataset: str, layout: SkeletonLayout, num_classes: int, data_hash: str) -> DataInfo:
        return cls(dataset, layout.num_joints, layout.edges0, layout.center0, layout.parents0, num_classes, data_hash)


def stream_names(cfg: Config) -> tuple[str, ...]:
    """The streams pretraining builds: those with a positive weight in Eq. (10)."""
    return tuple(cfg.contrastive.stream_weights)


def eval_stream_names(cfg: Config) -> tuple[str, ...]:
    """The streams whose features the evaluation protocols combine."""
    built = stream_names(cfg)
    if cfg.eval.streams == "all":
        return built
    if cfg.eval.streams not in built:
        raise ValueError(f"eval.streams={cfg.eval.streams!r} but that stream was not pretrained (weight 0)")
    return (cfg.eval.streams,)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (Ray's prepare_model wraps only with 2+ workers)."""
    return getattr(model, "module", model)


def build_pretrain_model(cfg: Config, info: DataInfo) -> nn.Module:
    """The multi-stream contrastive model of ``cfg.method`` (a supervised run builds the same
    encoders, randomly initialised, and skips pretraining)."""
    from models.registry import build_model

    method = "crossmoco" if cfg.method == "supervised" else cfg.method
    return build_model(
        cfg.encoder, cfg.contrastive, num_joints=info.num_joints, edges=info.edges0, center=info.center0,
        method=method,
    )


def model_features(model: nn.Module, streams: dict[str, torch.Tensor], cfg: Config) -> torch.Tensor:
    """Features for the evaluation protocols (``cfg.eval.features``, streams combined by ``cfg.eval.combine``)."""
    return unwrap(model).features(streams, which=cfg.eval.features, combine=cfg.eval.combine)
