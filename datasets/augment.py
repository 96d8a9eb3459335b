"""One augmentation of a whole batch: the named steps of ``AugmentConfig.steps``, in order (§III-D, Table I, Fig. 5).

* ``"view"``: a random rotation about x and y and a random scale (``view_change``, CTR-GCN's NW-UCLA
  feeder; ``rotate_degrees``, ``scale_amplitude``); neither the paper nor CrosSCLR has it.
* ``"shear"``: multiplies the coordinates by ``I + S`` whose six off-diagonal entries are uniform in
  ``[-a, a]`` (CrosSCLR ``feeder/tools.py::shear``, ``a = shear_amplitude``).
* ``"crop"``: ``temporal_crop`` reflects ``T // crop_padding`` frames at both ends and takes a random
  window of T frames (``tools.py::temperal_crop``, where ``crop_padding`` is CrosSCLR's
  ``temperal_padding_ratio = 6``, i.e. 8 padding frames at T = 50; 0 disables the crop).
* ``"occlusion"``: the paper's spatiotemporal occlusion mask (datasets/occlusion.py, Eqs. 11-14), in the
  reading ``augment.occlusion.reading``; listed last, occluded joints stay zero.
* ``()``: the input unchanged.

``("shear", "crop")`` draws exactly what the lineage's pair drew, so figures measured before the steps
existed (as ``augment.method=shear_crop``) repeat to the digit. CrosSCLR draws these with Python's
``random`` per sample in DataLoader workers; here each sample still gets its own draw, but from one
explicit ``torch.Generator`` for the whole batch, on-device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from crossmoco.datasets.config import AugmentConfig
from crossmoco.datasets.occlusion import occlusion_mask


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


def view_change(x: Tensor, degrees: float, scale_amplitude: float, generator: torch.Generator) -> Tensor:
    """A random camera change of every sample: ``out[n] = s[n] * Ry(b[n]) @ Rx(a[n]) @ x[n]`` over C.

    ``a, b`` are uniform in ``[-degrees, degrees]`` (rotations about the x and the vertical y axis) and
    ``s`` in ``[1 - scale_amplitude, 1 + scale_amplitude]``, as CTR-GCN's NW-UCLA feeder draws them
    (``rand_view_transform``: integer angles in [-60, 60], s in [0.5, 1.5]; it multiplies row vectors by
    ``Ry Rx S``, the transposed rotations, which have the same distribution since the angles are
    symmetric about 0). The rotation is about the origin: the preprocessed samples are centred there.

    Shape:
        x: (N, 3, T, V, M) -> (N, 3, T, V, M)
    """
    n = x.shape[0]
    dev = generator.device
    ang = torch.deg2rad((2 * torch.rand(n, 2, generator=generator, device=dev) - 1) * degrees)
    s = 1 + (2 * torch.rand(n, generator=generator, device=dev) - 1) * scale_amplitude
    ca, sa, cb, sb = ang[:, 0].cos(), ang[:, 0].sin(), ang[:, 1].cos(), ang[:, 1].sin()
    one, zero = torch.ones_like(ca), torch.zeros_like(ca)
    rx = torch.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca], 1).view(n, 3, 3)
    ry = torch.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb], 1).view(n, 3, 3)
    r = (ry @ rx * s.view(n, 1, 1)).to(device=x.device, dtype=x.dtype)
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
    """One augmented view of a batch: ``cfg.steps`` applied in order; call it twice for the two views x1, x2.

    Shape:
        x: (N, C, T, V, M) -> (N, C, T, V, M)
    """
    for step in cfg.steps:
        if step == "view":
            x = view_change(x, cfg.rotate_degrees, cfg.scale_amplitude, generator)
        elif step == "shear":
            x = shear(x, cfg.shear_amplitude, generator)
        elif step == "crop":
            x = temporal_crop(x, cfg.crop_padding, generator)
        elif step == "occlusion":
            x = occlusion_mask(x, parents0, cfg.occlusion, generator)[0]
        else:
            raise ValueError(f"unknown augment step {step!r}; expected view, shear, crop or occlusion")
    return x
