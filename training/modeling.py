"""The bridge from the configuration and a dataset's skeleton to the models/ package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

import torch
from torch import nn

from crossmoco.datasets.skeleton import SkeletonLayout
from crossmoco.datasets.streams import make_streams
from crossmoco.models.graph import SkeletonGraph
from crossmoco.models.registry import build_model
from crossmoco.training.config import Config


@dataclass(frozen=True)
class DataInfo:
    """What the models need to know of a preprocessed dataset."""

    dataset: str
    graph: SkeletonGraph
    num_classes: int
    data_hash: str
    parents0: tuple[int, ...]  # the layout's (SkeletonLayout.parents0): the bone stream's and the mask's parents

    @classmethod
    def of(cls, dataset: str, layout: SkeletonLayout, num_classes: int, data_hash: str) -> DataInfo:
        graph = SkeletonGraph(layout.num_joints, layout.edges0, layout.center0)
        return cls(dataset, graph, num_classes, data_hash, layout.parents0)


def stream_names(cfg: Config) -> tuple[str, ...]:
    """The streams a model is built with, in order: those with a positive weight in Eq. (10)."""
    return tuple(cfg.contrastive.stream_weights)


def stream_weights(cfg: Config) -> torch.Tensor:
    """Eq. (10)'s a, b, c of the built streams, in ``stream_names`` order. Shape: ``(S,)``."""
    return torch.tensor(list(cfg.contrastive.stream_weights.values()))


def eval_stream_index(cfg: Config) -> list[int]:
    """Positions (in ``stream_names``) of the streams whose features the evaluation protocols use."""
    built = stream_names(cfg)
    if cfg.eval.streams == "all":
        return list(range(len(built)))
    if cfg.eval.streams not in built:
        raise ValueError(f"eval.streams={cfg.eval.streams!r} but that stream was not pretrained (weight 0)")
    return [built.index(cfg.eval.streams)]


def stacked_streams(x: torch.Tensor, cfg: Config, info: DataInfo) -> torch.Tensor:
    """The built streams of a batch of joints, stacked on a stream axis.

    Shape: ``(N, C, T, V, M)`` -> ``(N, S, C, T, V, M)``.
    """
    return torch.stack(list(make_streams(x, info.parents0, stream_names(cfg)).values()), dim=1)


class PretrainModel(Protocol):
    """What the pipeline calls on a model of ``models.registry`` (CrossMoCo, MoCo, Classifier) beyond
    ``nn.Module``; the contrastive-only methods are called only when the method has no labels."""

    def loss(self, *args: Any, **kwargs: Any) -> torch.Tensor: ...
    def momentum_update(self, m: float) -> None: ...
    def enqueue(self, out: Any) -> None: ...
    def chance(self, crossed: bool) -> float: ...
    def features(self, x: torch.Tensor, which: Any = "both") -> torch.Tensor: ...


def core_of(model: nn.Module) -> PretrainModel:
    """The unwrapped model, typed by what the pipeline calls on it."""
    return cast(PretrainModel, unwrap(model))


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (Ray's prepare_model wraps only with 2+ workers)."""
    return getattr(model, "module", model)


def build_pretrain_model(cfg: Config, info: DataInfo) -> nn.Module:
    """The model of ``cfg.method`` over the built streams (``random`` builds CrossMoCo's encoders)."""
    return build_model(cfg.method, cfg.encoder, cfg.contrastive, info.graph, streams=len(stream_names(cfg)),
                       num_classes=info.num_classes)  # fmt: skip


def model_features(model: nn.Module, x: torch.Tensor, cfg: Config, info: DataInfo) -> torch.Tensor:
    """Features for the evaluation protocols: ``cfg.eval.features`` of the ``cfg.eval.streams``,
    combined by ``cfg.eval.combine``. Shape: joints ``(N, C, T, V, M)`` -> ``(N, F)``."""
    feats = core_of(model).features(stacked_streams(x, cfg, info), which=cfg.eval.features)  # (N, S, F)
    chosen = feats[:, eval_stream_index(cfg)]
    if cfg.eval.combine == "sum":
        return chosen.sum(dim=1)
    if cfg.eval.combine not in ("concat", "ensemble"):  # ensemble: concatenated here, one head per stream's part
        raise ValueError(f"unknown eval.combine {cfg.eval.combine!r}; expected 'concat', 'sum' or 'ensemble'")
    return chosen.flatten(1)


def eval_streams(cfg: Config) -> int:
    """How many streams' features ``model_features`` returns side by side."""
    return 1 if cfg.eval.combine == "sum" else len(eval_stream_index(cfg))
