"""The three input streams of §III-C: joint (Eq. 6), motion (Eq. 7) and bone (Eq. 8).

Pure functions over a batch in the canonical layout ``(N, C, T, V, M)`` (see datasets/skeleton.py)
on whatever device the input lives; nothing here allocates on a fixed device.

* joint  (Eq. 6): the coordinates themselves, X^r(t) = (x, y, z).
* motion (Eq. 7): X^r(t+1) - X^r(t); the last frame has no successor and is zero, so the stream
  keeps T frames (as in CrosSCLR's ``motion`` stream).
* bone   (Eq. 8): a joint minus its parent along the layout's edges (``SkeletonLayout.parents0``);
  the centre joint is its own parent, so its bone is zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

STREAM_NAMES = ("joint", "motion", "bone")


def joint(x: Tensor) -> Tensor:
    """The joint stream (Eq. 6): the input itself.

    Shape:
        x: (N, C, T, V, M) -> (N, C, T, V, M)
    """
    return x


def motion(x: Tensor) -> Tensor:
    """The motion stream (Eq. 7): ``out[:, :, t] = x[:, :, t+1] - x[:, :, t]``, the last frame zero.

    Shape:
        x: (N, C, T, V, M) -> (N, C, T, V, M)
    """
    out = torch.zeros_like(x)
    out[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return out


def bone(x: Tensor, parents0: Sequence[int]) -> Tensor:
    """The bone stream (Eq. 8): ``out[..., v, :] = x[..., v, :] - x[..., parents0[v], :]``.

    ``parents0`` is the 0-based parent of every joint (``SkeletonLayout.parents0``); a joint that
    is its own parent (the centre) gets a zero bone.

    Shape:
        x: (N, C, T, V, M), parents0: (V,) -> (N, C, T, V, M)
    """
    if len(parents0) != x.shape[3]:
        raise ValueError(f"parents0 has {len(parents0)} joints but x has V = {x.shape[3]}")
    index = torch.as_tensor(parents0, dtype=torch.long, device=x.device)
    return x - x.index_select(3, index)


def make_streams(
    x: Tensor, parents0: Sequence[int], names: Iterable[str] = STREAM_NAMES
) -> dict[str, Tensor]:
    """The requested streams of one batch, keyed by stream name (``joint``, ``motion``, ``bone``).

    Shape:
        x: (N, C, T, V, M) -> each value (N, C, T, V, M)
    """
    out: dict[str, Tensor] = {}
    for name in names:
        if name == "joint":
            out[name] = joint(x)
        elif name == "motion":
            out[name] = motion(x)
        elif name == "bone":
            out[name] = bone(x, parents0)
        else:
            raise ValueError(f"unknown stream {name!r}; expected one of {STREAM_NAMES}")
    return out
