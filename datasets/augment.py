"""One augmentation of a whole batch, chosen by ``AugmentConfig.method`` (§III-D, Table I, Fig. 5).

* ``"occlusion"``: the paper's spatiotemporal occlusion mask (datasets/occlusion.py, Eqs. 11-14).
* ``"shear_crop"``: the CrosSCLR / SkeletonCLR pair the paper compares with, batched here:
  ``shear`` multiplies the coordinates by ``I + S`` whose six off-diagonal entries are uniform in
  ``[-a, a]`` (CrosSCLR ``feeder/tools.py::shear``, ``a = shear_amplitude``); ``temporal_crop``
  reflects ``T // crop_padding`` frames at both ends and takes a random window of T frames
  (``tools.py::temperal_crop``, where ``crop_padding`` is CrosSCLR's ``temperal_padding_ratio = 6``,
  i.e. 8 padding frames at T = 50; 0 disables the crop).
* ``"occlusion_shear_crop"``: shear, crop, then the occlusion mask, so occluded joints stay zero.
* ``"none"``: the input unchanged.

CrosSCLR draws these with Python's ``random`` per sample in DataLoader workers; here each sample
still gets its own draw, but from one explicit ``torch.Generator`` for the whole batch, on-device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from datasets.config import AugmentConfig
from datasets.occlusion import occlusion_mask


def shear(x: Tensor, amplitude: float, generator: torch.Generator) -> Tensor:
    """A random shear of every sample's coordinates: ``out[n] = R[n] @ x[n]`` over C.

    ``R[n]`` has ones on the diagonal and off-diagonal entries uniform in ``[-amplitude, amplitude]``.
    Einsum letters: n sample, i output coordinate, j input coordinate, t frame, v joint, m body.

    Shape:
        x: (N, 3, T, V, M) -> (N, 3, T, V, M)
    """
    n, c = x.shape[:2]
    off = (2 * torch.rand(n, c, c, generator=generator, device=generator.device) - 1) * amplitude
    eye = torch.eye(c, device=generator.device, dtype=torch.bool)
    r = torch.where(eye, torch.ones_like(off), off).to(device=x.device, dtype=x.dtype)  # (N, C, C)
    return torch.einsum("nij,njtvm->nitvm", r, x)


def temporal_crop(x: Tensor, padding_ratio: int, generator: torch.Generator) -> Tensor:
    """A random window of T frames from the sequence reflected by ``T // padding_ratio`` frames.

    Shape:
        x: (N, C, T, V, M) -> (N, C, T, V, M)
    """
    n, c, t, v, m = x.shape
    pad = t // padding_ratio if padding_ratio > 0 else 0
    if pad == 0:
        return x
    padded = torch.cat([x[:, :, :pad].flip(2), x, x[:, :, -pad:].flip(2)], dim=2)  # (N, C, T + 2 pad, V, M)
    start = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator, device=generator.device)
    frames = (start + torch.arange(t, device=generator.device)).to(x.device)  # (N, T)
    index = frames.view(n, 1, t, 1, 1).expand(n, c, t, v, m)
    return padded.gather(2, index)


def augment(x: Tensor, parents0: Sequence[int], cfg: AugmentConfig, generator: torch.Generator) -> Tensor:
    """One augmented view of a batch, by ``cfg.method``; call it twice for the two views x1, x2.

    Shape:
        x: (N, C, T, V, M) -> (N, C, T, V, M)
    """
    if cfg.method == "none":
        return x
    if cfg.method == "occlusion":
        return occlusion_mask(x, parents0, cfg.occlusion, generator)[0]
    if cfg.method not in ("shear_crop", "occlusion_shear_crop"):
        raise ValueError(f"unknown augment.method {cfg.method!r}")
    y = temporal_crop(shear(x, cfg.shear_amplitude, generator), cfg.crop_padding, generator)
    if cfg.method == "occlusion_shear_crop":
        y = occlusion_mask(y, parents0, cfg.occlusion, generator)[0]
    return y
