"""The NTU `.skeleton` writer: the layout it writes, and a round trip through the NTU reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets.ntu_writer import format_ntu_skeleton, write_ntu_skeleton


def two_body_recording(rng: np.random.Generator) -> np.ndarray:
    """(3, T=14, 25, 2): two moving people in front of the camera; body 2 leaves for frames 5-6, both
    are lost in frame 9 (a frame of zeros)."""
    t = np.arange(14, dtype=np.float32)
    data = rng.normal(0, 0.3, (3, 14, 25, 2)).astype(np.float32)
    data[1] *= 3  # taller than wide, as a standing person is (the reader's noise rule checks that)
    data[..., 0] *= 2  # body 1 moves most, so the reader (most active first) keeps the order
    data[0, :, :, 1] += 0.8 + 0.05 * t[:, None]
    data[2] += 3.0
    data[:, 5:7, :, 1] = 0
    data[:, 9] = 0
    return data


def test_layout_counts_and_lost_frame() -> None:
    data = two_body_recording(np.random.default_rng(0))
    lines = format_ntu_skeleton(data, body_ids=[11, 22]).splitlines()
    assert lines[0] == "14"
    assert lines[1] == "2" and lines[2].split()[0] == "11" and len(lines[2].split()) == 10 and lines[3] == "25"
    joint = lines[4].split()
    assert len(joint) == 12 and np.allclose([float(v) for v in joint[:3]], data[:, 0, 0, 0], atol=1e-6)
    assert len(lines) == 1 + 14 + 2 * (14 - 1) * 27 - 2 * 27  # frames 5, 6: one body; frame 9: none


def test_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        format_ntu_skeleton(np.zeros((3, 4, 20, 1)))


def test_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    out = write_ntu_skeleton(tmp_path / "S001C001P001R001A001.skeleton", np.ones((3, 2, 25, 1)))
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_round_trip_through_the_ntu_reader(tmp_path: Path) -> None:
    ntu = pytest.importorskip("crossmoco.datasets.ntu", reason="the NTU reader (issue 4) is not there yet")
    data = two_body_recording(np.random.default_rng(1))
    path = write_ntu_skeleton(tmp_path / "S002C003P004R001A050.skeleton", data, body_ids=[7, 8])
    sample = ntu.read_ntu_skeleton(path, max_bodies=2, denoise=False)
    assert (sample.camera, sample.performer, sample.label, sample.num_frames) == (3, 4, 49, 14)
    np.testing.assert_allclose(sample.data, data, atol=1e-5)
