"""Batched CrosSCLR-style shear and temporal crop, and the method dispatch of augment()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datasets.augment import augment, shear, temporal_crop
from datasets.config import AugmentConfig, OcclusionConfig
from datasets.skeleton import ntu_layout

PARENTS0 = ntu_layout().parents0


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shear_zero_amplitude_is_identity() -> None:
    x = torch.randn(4, 3, 10, 25, 2)
    assert torch.allclose(shear(x, 0.0, gen(0)), x)


def test_shear_is_a_per_sample_linear_map_within_amplitude() -> None:
    x = torch.randn(6, 3, 10, 25, 2, dtype=torch.float64)
    out = shear(x, 0.5, gen(1))
    for n in range(6):  # recover R[n] by least squares from the points: out = R x
        pts, img = x[n].reshape(3, -1).numpy(), out[n].reshape(3, -1).numpy()
        r = np.linalg.lstsq(pts.T, img.T, rcond=None)[0].T
        assert np.allclose(np.diag(r), 1.0)
        assert np.abs(r - np.eye(3)).max() <= 0.5
    assert not torch.allclose(out[0] - x[0], out[1] - x[1])  # each sample has its own matrix


def naive_crop(a: np.ndarray, ratio: int, start: int) -> np.ndarray:
    """CrosSCLR feeder/tools.py::temperal_crop for one (C, T, V, M) sample with a given start."""
    pad = a.shape[1] // ratio
    padded = np.concatenate((a[:, :pad][:, ::-1], a, a[:, -pad:][:, ::-1]), axis=1)
    return padded[:, start : start + a.shape[1]]


def test_temporal_crop_matches_the_reference_window() -> None:
    x = torch.randn(16, 3, 50, 25, 2)
    out = temporal_crop(x, 6, gen(2))
    assert out.shape == x.shape
    starts = set()
    for n in range(16):
        matches = [s for s in range(17) if np.array_equal(out[n].numpy(), naive_crop(x[n].numpy(), 6, s))]
        assert len(matches) == 1, f"sample {n} is not a reflected window"
        starts.add(matches[0])
    assert len(starts) > 1


def test_temporal_crop_ratio_zero_is_identity() -> None:
    x = torch.randn(2, 3, 50, 25, 2)
    assert torch.equal(temporal_crop(x, 0, gen(3)), x)


@pytest.mark.parametrize("method", ["occlusion", "shear_crop", "occlusion_shear_crop", "none"])
def test_augment_dispatch_shapes_and_determinism(method: str) -> None:
    x = torch.randn(4, 3, 50, 25, 2)
    cfg = AugmentConfig(method=method)
    a, b = augment(x, PARENTS0, cfg, gen(4)), augment(x, PARENTS0, cfg, gen(4))
    assert a.shape == x.shape and torch.equal(a, b)
    assert torch.equal(a, x) == (method == "none")


def test_occlusion_shear_crop_zeroes_whole_frames() -> None:
    cfg = AugmentConfig(method="occlusion_shear_crop", occlusion=OcclusionConfig(spatial_rate=0.0))
    out = augment(torch.randn(8, 3, 50, 25, 2) + 3.0, PARENTS0, cfg, gen(5))
    zero_frames = (out == 0).all(dim=1).all(dim=2).all(dim=2)  # (N, T)
    assert (zero_frames.sum(dim=1) == 25).all()


def test_unknown_method_raises() -> None:
    cfg = AugmentConfig(method="occlusion")
    object.__setattr__(cfg, "method", "cutout")
    with pytest.raises(ValueError, match="cutout"):
        augment(torch.zeros(1, 3, 4, 25, 1), PARENTS0, cfg, gen(6))
