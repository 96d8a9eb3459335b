"""FLOPs of one pretraining step, part by part: CrossMoCo's step beside the reference-style step's.

Counted with ``torch.utils.flop_counter`` and one correction. Its formula for a convolution's weight
gradient (``aten.convolution_backward``, torch 2.13) ignores ``groups``: it counts the weight
gradient of a grouped convolution ``groups`` times over. Our encoder runs the three streams as
grouped convolutions (``models/stgcn.py``), the reference's convolutions are not grouped, so the
shipped counter read 8.43 GFLOP per NW-UCLA sample for our step where it does 5.71, and made our
step look like 45% more work than the reference's 5.82 (issue #32) when it does 2% less. Here a
weight gradient counts what it is, as many multiply-adds as the forward convolution
(``COUNT_FIX``).

``ours_parts`` and ``reference_parts`` run one step's forward in pieces (the query encoders, the
key encoders, the ST-MLP head, the loss), each piece's output cut from the graph (detached,
requiring grad), then the backward piece by piece in reverse: every piece is counted on its own,
and the pieces add up to the whole step counted at once (``bench_step.py`` prints both). The
optimiser step, the momentum update, BatchNorm, ReLU and the enqueue are elementwise: a FLOP
counter counts none of them (they are memory-bound, not multiply-adds).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from crossmoco.models.crossmoco import CrossMoCo, CrossMoCoOutput
from crossmoco.models.losses import weighted_streams

aten = torch.ops.aten


def _conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                        _output_padding, _groups, output_mask, out_shape, **kwargs) -> int:  # fmt: skip
    """Input and weight gradients each cost what the forward convolution costs (grouped or not)."""
    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)  # w_shape holds C_in / groups
    return forward * (int(output_mask[0]) + int(output_mask[1]))


COUNT_FIX = {aten.convolution_backward: _conv_backward_flop}


def counter(corrected: bool = True) -> FlopCounterMode:
    """A FLOP counter; ``corrected=False`` is torch's as shipped (grouped weight gradients counted ``groups`` x)."""
    return FlopCounterMode(display=False, custom_mapping=COUNT_FIX if corrected else {})


PIECES = ("ST-GCN", "projector", "2nd ST-GCN", "2nd projector", "ST-MLP head")  # in a side's encoder, in order


def ordered(parts: list[str]) -> list[str]:
    """Part names ``"<side> <piece> <forward|backward>"`` in reading order: query, key, then the loss."""

    def key(name: str) -> tuple[int, int, int]:
        piece, _, phase = name.rpartition(" ")
        side, _, kind = piece.partition(" ")
        rank = PIECES.index(kind) if kind in PIECES else len(PIECES)
        return ({"query": 0, "key": 1}.get(side, 2), rank, phase == "backward")

    return sorted(parts, key=key)


class Pieces:
    """A step's forward run piece by piece, each output cut from the graph, then its backward piece by
    piece in reverse order of creation (every consumer of a cut before its producer); ``parts``: FLOPs
    per ``"<piece> forward"`` / ``"<piece> backward"``."""

    def __init__(self) -> None:
        self.parts: dict[str, int] = defaultdict(int)
        self._made: list[tuple[str, Tensor, Tensor]] = []  # (piece, output in the graph, its cut)

    @contextmanager
    def counting(self, name: str) -> Iterator[None]:
        with counter() as c:
            yield
        self.parts[name] += c.get_total_flops()

    def forward(self, piece: str, fn: Callable[..., Tensor], *inputs: Tensor) -> Tensor:
        with self.counting(f"{piece} forward"):
            out = fn(*inputs)
        if not out.requires_grad:  # a key encoder, under no_grad: no backward
            return out
        cut = out.detach().requires_grad_()
        self._made.append((piece, out, cut))
        return cut

    def backward(self) -> None:
        """From the last piece (the loss, a scalar) back to the first."""
        for i, (piece, out, cut) in enumerate(reversed(self._made)):
            grad = torch.ones_like(out) if i == 0 else cut.grad
            if grad is not None:
                with self.counting(f"{piece} backward"):
                    out.backward(grad)


def ours_parts(model: CrossMoCo, x1: Tensor, x2: Tensor, weights: Tensor) -> dict[str, int]:
    """One crossed CrossMoCo step (``shuffle_bn_groups=1``) in pieces. Shape: ``x1, x2`` ``(N, S, C, T, V, M)``."""
    p = Pieces()

    def encode(enc: nn.Module, x: Tensor, side: str) -> tuple[Tensor, Tensor]:
        z = p.forward(f"{side} projector", enc.f.projector, p.forward(f"{side} ST-GCN", enc.f.backbone, x))
        h_in = z
        if enc.h_base is not None:  # encoder.mlp_shared_backbone=false: h has an ST-GCN of its own
            own = p.forward(f"{side} 2nd ST-GCN", enc.h_base.backbone, x)
            h_in = p.forward(f"{side} 2nd projector", enc.h_base.projector, own)
        return z, p.forward(f"{side} ST-MLP head", enc.head, h_in)

    z, r = encode(model.query, x1, "query")
    with torch.no_grad():
        kz, kr = encode(model.key, x2, "key")
    out = CrossMoCoOutput(*(F.normalize(t, dim=-1) for t in (z, kz, r, kr)))
    p.forward("loss", lambda: weighted_streams(model.loss(out, crossed=True), weights))  # Eqs. 3-5, 9-10
    p.backward()
    return dict(p.parts)


def reference_parts(models: dict[str, nn.Module], x1: dict[str, Tensor], x2: dict[str, Tensor]) -> dict[str, int]:
    """One reference-style step (one MoCo per stream, ``bench/reference_step.py``) in pieces, summed over streams."""
    p = Pieces()
    losses = []
    for s, m in models.items():
        z = p.forward("query projector", m.encoder_q.fc, p.forward("query ST-GCN", m.encoder_q.features, x1[s]))
        with torch.no_grad():
            k = p.forward("key projector", m.encoder_k.fc, p.forward("key ST-GCN", m.encoder_k.features, x2[s]))
        losses.append(p.forward("loss", lambda m=m, z=z, k=k: m.contrast(F.normalize(z, dim=1), F.normalize(k, dim=1))))
    p.forward("loss", lambda: sum(losses))  # the streams' sum: no FLOPs, one scalar to start from
    p.backward()
    return dict(p.parts)
