"""Three streams (§III-C, Eqs. 9-10): one contrastive model per stream, losses weighted a, b, c.

    L_joint, L_motion, L_bone = L(x_joint), L(x_motion), L(x_bone)   (Eq. 9)
    L = a L_joint + b L_motion + c L_bone                            (Eq. 10)

Streams are computed from the joints by ``datasets.streams.make_streams`` (not imported here); this
module takes a mapping ``{"joint": x, "motion": x, "bone": x}`` of ``(N, C, T, V, M)`` tensors and
needs only the streams it built. A stream whose weight is 0 is not built. At evaluation the
streams' features combine by concatenation or sum, and any single stream can be asked for alone.

The streams run one after another: each has its own weights, and on CPU their convolutions are
already large GEMMs at batch 128, so fusing them (grouped convolutions) would change the module's
structure for little gain there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from models.crossmoco import FeatureKind

STREAMS = ("joint", "motion", "bone")
Combine = Literal["concat", "sum"]


class MultiStreamOutput(NamedTuple):
    """Each stream's model output (``CrossMoCoOutput`` / ``MoCoOutput``); ``None`` if not built."""

    joint: Any = None
    motion: Any = None
    bone: Any = None


class MultiStreamLoss(NamedTuple):
    """Eq. (10) and its Eq. (9) parts (scalars; ``None`` for a stream not built)."""

    loss: Tensor
    joint: Tensor | None = None
    motion: Tensor | None = None
    bone: Tensor | None = None


class MultiStream(nn.Module):
    """``make_stream()`` builds one stream's model; ``weights`` maps stream name -> a, b, c."""

    def __init__(self, make_stream: Callable[[], nn.Module], weights: Mapping[str, float]) -> None:
        super().__init__()
        unknown = set(weights) - set(STREAMS)
        if unknown:
            raise ValueError(f"unknown streams {sorted(unknown)}; expected a subset of {STREAMS}")
        self.weights = {s: float(weights[s]) for s in STREAMS if weights.get(s, 0.0) > 0}
        if not self.weights:
            raise ValueError("at least one stream needs a positive weight")
        self.streams = nn.ModuleDict({s: make_stream() for s in self.weights})

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        for model in self.streams.values():
            model.momentum_update(m)

    def forward(self, x1: Mapping[str, Tensor], x2: Mapping[str, Tensor]) -> MultiStreamOutput:
        """Shape: each ``x1[s], x2[s]`` ``(N, C, T, V, M)``."""
        return MultiStreamOutput(**{s: model(x1[s], x2[s]) for s, model in self.streams.items()})

    def loss(self, out: MultiStreamOutput, crossed: bool) -> MultiStreamLoss:
        parts = {s: model.loss(getattr(out, s), crossed) for s, model in self.streams.items()}
        total = sum(self.weights[s] * parts[s] for s in parts)
        return MultiStreamLoss(total, **parts)  # type: ignore[arg-type]

    @torch.no_grad()
    def enqueue(self, out: MultiStreamOutput) -> None:
        for s, model in self.streams.items():
            model.enqueue(getattr(out, s))

    def features(
        self,
        x: Mapping[str, Tensor],
        which: FeatureKind = "both",
        combine: Combine = "concat",
        streams: Sequence[str] | None = None,
    ) -> Tensor:
        """Query-encoder features of the chosen streams (default: all built), concatenated or summed.

        Shape: each ``x[s]`` ``(N, C, T, V, M)`` -> ``(N, F)`` (``F`` from ``feature_dim``).
        """
        feats = [self.streams[s].features(x[s], which) for s in self._chosen(streams)]
        if combine == "concat":
            return torch.cat(feats, dim=1)
        if combine == "sum":
            return torch.stack(feats).sum(dim=0)
        raise ValueError(f"unknown combine {combine!r}; expected 'concat' or 'sum'")

    def feature_dim(
        self, which: FeatureKind = "both", combine: Combine = "concat", streams: Sequence[str] | None = None
    ) -> int:
        dims = [self.streams[s].feature_dim(which) for s in self._chosen(streams)]
        return sum(dims) if combine == "concat" else dims[0]

    def _chosen(self, streams: Sequence[str] | None) -> list[str]:
        chosen = list(self.streams) if streams is None else list(streams)
        missing = [s for s in chosen if s not in self.streams]
        if missing or not chosen:
            raise ValueError(f"streams {missing or chosen} not built; built: {list(self.streams)}")
        return chosen
