"""Batched CrosSCLR-style shear and temporal crop, and augment()'s named steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossmoco.datasets.augment import augment, shear, temporal_crop, view_change
from crossmoco.datasets.config import AugmentConfig, OcclusionConfig
from crossmoco.datasets.skeleton import ntu_layout

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


STEP_LISTS = [("occlusion",), ("shear", "crop"), ("shear", "crop", "occlusion"), ()]


@pytest.mark.parametrize("steps", STEP_LISTS)
def test_augment_steps_shapes_and_determinism(steps: tuple[str, ...]) -> None:
    x = torch.randn(4, 3, 50, 25, 2)
    cfg = AugmentConfig(steps=steps)
    a, b = augment(x, PARENTS0, cfg, gen(4)), augment(x, PARENTS0, cfg, gen(4))
    assert a.shape == x.shape and torch.equal(a, b)
    assert torch.equal(a, x) == (steps == ())


def test_steps_apply_in_order_with_the_lineage_draws() -> None:
    """("shear", "crop") is shear then crop from one generator: what augment.method=shear_crop drew."""
    x = torch.randn(4, 3, 50, 25, 2)
    g = gen(12)
    want = temporal_crop(shear(x, 0.5, g), 6, g)
    assert torch.equal(augment(x, PARENTS0, AugmentConfig(steps=("shear", "crop")), gen(12)), want)
    swapped = augment(x, PARENTS0, AugmentConfig(steps=("crop", "shear")), gen(12))
    assert not torch.allclose(swapped, want)


def test_occlusion_after_shear_crop_zeroes_whole_frames() -> None:
    cfg = AugmentConfig(steps=("shear", "crop", "occlusion"),
                        occlusion=OcclusionConfig(spatial_rate=0.0, reading="every_frame_and_blank"))
    out = augment(torch.randn(8, 3, 50, 25, 2) + 3.0, PARENTS0, cfg, gen(5))
    zero_frames = (out == 0).all(dim=1).all(dim=2).all(dim=2)  # (N, T)
    assert (zero_frames.sum(dim=1) == 25).all()


def test_unknown_step_raises_and_a_repeated_step_is_refused() -> None:
    cfg = AugmentConfig(steps=("occlusion",))
    object.__setattr__(cfg, "steps", ("cutout",))
    with pytest.raises(ValueError, match="cutout"):
        augment(torch.zeros(1, 3, 4, 25, 1), PARENTS0, cfg, gen(6))
    with pytest.raises(ValueError, match="twice"):
        AugmentConfig(steps=("shear", "shear"))


def test_view_change_by_hand_on_one_point() -> None:
    """Angles and scale at their extremes by hand: a = b = 90 degrees, s = 1.5 (amplitude 0.5).

    Drawn with the same generator state the function uses, so the check is exact for this sample:
    Rx(a) (0, 1, 0) = (0, cos a, sin a); then Ry(b) (x, y, z) = (x cos b + z sin b, y, -x sin b + z cos b).
    """
    g = gen(7)
    u = torch.rand(1, 2, generator=g)
    v = torch.rand(1, generator=g)
    a, b = [math.radians((2 * float(t) - 1) * 90) for t in u[0]]
    s = 1 + (2 * float(v[0]) - 1) * 0.5
    p = torch.zeros(1, 3, 1, 1, 1, dtype=torch.float64)
    p[0, 1] = 1.0  # the point (0, 1, 0)
    y, z = math.cos(a), math.sin(a)
    want = s * torch.tensor([z * math.sin(b), y, z * math.cos(b)], dtype=torch.float64)
    out = view_change(p, 90.0, 0.5, gen(7))
    assert torch.allclose(out.flatten(), want, atol=1e-6)  # the matrix is built in float32


def test_view_change_is_a_rotation_times_a_scale_within_bounds() -> None:
    x = torch.randn(8, 3, 10, 20, 1, dtype=torch.float64)
    out = view_change(x, 60.0, 0.5, gen(8))
    scales = []
    for n in range(8):  # recover the matrix: out = s R x, R orthonormal with det 1
        pts, img = x[n].reshape(3, -1).numpy(), out[n].reshape(3, -1).numpy()
        m = np.linalg.lstsq(pts.T, img.T, rcond=None)[0].T
        s = np.cbrt(np.linalg.det(m))
        assert 0.5 - 1e-6 <= s <= 1.5 + 1e-6
        r = m / s
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-6)  # drawn in float32
        assert r[1, 0] == pytest.approx(0.0, abs=1e-6)  # Ry Rx leaves x's image in the x-z plane
        assert abs(math.degrees(math.atan2(-r[1, 2], r[1, 1]))) <= 60 + 1e-6  # a: Ry Rx's row y is Rx's
        assert abs(math.degrees(math.atan2(-r[2, 0], r[0, 0]))) <= 60 + 1e-6  # b: its column x is Ry's
        scales.append(s)
    assert np.ptp(scales) > 0.1  # each sample has its own draw
    assert torch.equal(view_change(x, 0.0, 0.0, gen(8)), x)


def test_view_step_changes_the_view_and_is_absent_by_default() -> None:
    x = torch.randn(4, 3, 50, 25, 2)
    plain = augment(x, PARENTS0, AugmentConfig(steps=("shear", "crop")), gen(9))
    assert torch.equal(plain, augment(x, PARENTS0, AugmentConfig(rotate_degrees=60.0), gen(9))), "no view step"
    turned = augment(x, PARENTS0, AugmentConfig(steps=("view", "shear", "crop"), rotate_degrees=60.0), gen(9))
    assert turned.shape == x.shape and not torch.allclose(turned, plain)
    with pytest.raises(ValueError, match="rotate_degrees"):
        AugmentConfig(rotate_degrees=-1.0)
