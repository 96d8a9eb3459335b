"""Kinect changes a performer's body ID mid-recording: the two tracks are one actor.

Command: ``python -m crossmoco preprocess ntu60 RAW OUT`` on such a file.
Holds after: the performer's frames are all in one body slot (none in the other), and in a
two-person recording where one performer's ID switches, no frame of either performer is dropped.
The files are real NTU recordings, rewritten with the project's NTU writer so that the body ID
changes halfway through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets.ntu import read_ntu_skeleton
from crossmoco.datasets.ntu_writer import write_ntu_skeleton

pytestmark = pytest.mark.realdata
SWITCHED_ID = 72057594037999999


def _split_body(data: np.ndarray, body: int, at: int) -> np.ndarray:
    """``data`` (3, T, 25, M) with body ``body`` cut at frame ``at`` into two bodies (M + 1)."""
    out = np.concatenate([data, np.zeros_like(data[..., :1])], axis=-1)
    out[:, at:, :, -1] = data[:, at:, :, body]
    out[:, at:, :, body] = 0
    return out


def _ids(m: int) -> list[int]:
    return [72057594037931101 + k for k in range(m - 1)] + [SWITCHED_ID]


def test_one_performer_whose_id_switches_stays_in_one_slot(shared_data: Path, tmp_path: Path) -> None:
    real = read_ntu_skeleton(shared_data / "ntu" / "raw" / "S001C001P001R001A001.skeleton", max_bodies=1)
    t = real.data.shape[1]
    switched = _split_body(real.data, body=0, at=t // 2)  # frames 0..t/2-1 one id, the rest another
    path = write_ntu_skeleton(tmp_path / "S001C001P001R001A001.skeleton", switched, _ids(2))
    s = read_ntu_skeleton(path, max_bodies=2)
    assert s.data[..., 0].any(axis=(0, 2)).all(), "every frame of the performer is in slot 0"
    assert not s.data[..., 1].any(), "nothing lands in the second slot"
    np.testing.assert_allclose(s.data[..., 0], real.data[..., 0], atol=1e-6)


def test_two_performers_one_switching_lose_no_frame(shared_data: Path, tmp_path: Path) -> None:
    real = read_ntu_skeleton(shared_data / "ntu" / "raw" / "S001C001P001R001A050.skeleton", max_bodies=2)
    t = real.data.shape[1]
    assert real.data.any(axis=(0, 2)).all(), "both performers are in every frame of the original"
    switched = _split_body(real.data, body=1, at=t // 2)
    path = write_ntu_skeleton(tmp_path / "S001C001P001R001A050.skeleton", switched, _ids(3))
    s = read_ntu_skeleton(path, max_bodies=2)
    assert s.data.any(axis=(0, 2)).all(), "no frame of either performer is dropped"
    got = sorted(range(2), key=lambda m: float(np.abs(s.data[..., m] - real.data[..., 0]).max()))
    np.testing.assert_allclose(s.data[..., got[0]], real.data[..., 0], atol=1e-6)
    np.testing.assert_allclose(s.data[..., got[1]], real.data[..., 1], atol=1e-6)
