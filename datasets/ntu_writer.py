"""Write skeletons as NTU RGB+D ``.skeleton`` text files (the format datasets/ntu.py reads).

Layout written, one value per line unless stated::

    T                                            frame count
    B                                            per frame: bodies in it (0 = a lost frame)
    id 0 1 1 1 1 0 0 0 2                         per body: 10 info fields (id, clipped edges, hand
                                                 confidences and states, restricted, lean x/y, tracked)
    25                                           joint count
    x y z dX dY cX cY 0 0 0 0 2                  per joint: 12 fields, x y z in metres first

The depth (dX, dY) and colour (cX, cY) pixel fields are the Kinect v2 pinhole projections of
(x, y, z) (z > 0 in front of the camera, else 0); joint orientations are 0 and the tracking
state is 2 ("tracked"). A body is in a frame when any of its coordinates there is non-zero, so
zero-padded bodies and lost frames written as zeros round-trip through the reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crossmoco.datasets.atomic import write_text_atomic

NUM_JOINTS = 25
# Kinect v2 intrinsics (approximate, public calibrations): depth 512 x 424, colour 1920 x 1080.
_DEPTH = (365.0, 256.0, 212.0)  # focal length, cx, cy in pixels
_COLOUR = (1081.0, 960.0, 540.0)
_INFO = "0 1 1 1 1 0 0 0 2"  # the 9 info fields after the body id: a clean, tracked body


def _pixels(xyz: np.ndarray, camera: tuple[float, float, float]) -> np.ndarray:
    """Pinhole projection of (J, 3) camera coordinates to (J, 2) pixels; 0 where z <= 0."""
    f, cx, cy = camera
    z = xyz[:, 2:3]
    safe = np.where(z > 0, z, 1.0)
    uv = np.concatenate([cx + f * xyz[:, :1] / safe, cy - f * xyz[:, 1:2] / safe], axis=1)
    return np.where(z > 0, uv, 0.0)


_JOINT_LINE = " ".join(["%.7g"] * 11) + " 2\n"  # 11 numbers, then the tracking state


def _joint_block(xyz: np.ndarray) -> str:
    """25 joint lines of 12 fields for one body in one frame; xyz is (25, 3). One format call."""
    fields = np.concatenate(
        [xyz, _pixels(xyz, _DEPTH), _pixels(xyz, _COLOUR), np.zeros((len(xyz), 4))], axis=1
    )  # (25, 11)
    return (_JOINT_LINE * len(fields) % tuple(fields.ravel().tolist()))[:-1]


def format_ntu_skeleton(data: np.ndarray, body_ids: Sequence[int] | None = None) -> str:
    """The text of a ``.skeleton`` file for one recording.

    ``body_ids`` are the Kinect tracking ids of the M bodies (default 72057594037927936 + m, the
    range real files use).

    Shape:
        data: (3, T, 25, M) float, x y z in metres in camera coordinates
    """
    if data.ndim != 4 or data.shape[0] != 3 or data.shape[2] != NUM_JOINTS:
        raise ValueError(f"expected (3, T, {NUM_JOINTS}, M) skeleton data, got shape {data.shape}")
    _, t, _, m = data.shape
    ids = list(body_ids) if body_ids is not None else [72057594037927936 + b for b in range(m)]
    if len(ids) != m:
        raise ValueError(f"{len(ids)} body ids for {m} bodies")
    xyz = np.asarray(data, np.float64).transpose(1, 3, 2, 0)  # (T, M, 25, 3)
    present = np.abs(xyz).sum(axis=(2, 3)) > 0  # (T, M)
    out = [str(t)]
    for f in range(t):
        bodies = np.flatnonzero(present[f])
        out.append(str(len(bodies)))
        for b in bodies:
            out += [f"{ids[b]} {_INFO}", str(NUM_JOINTS), _joint_block(xyz[f, b])]
    return "\n".join(out) + "\n"


def write_ntu_skeleton(path: str | Path, data: np.ndarray, body_ids: Sequence[int] | None = None) -> Path:
    """Write one recording as an NTU ``.skeleton`` file, atomically (temporary name, then rename).

    Shape:
        data: (3, T, 25, M) float; a body whose coordinates are all zero in a frame is absent
            there, and a frame with no body left is written as a lost frame (body count 0).
    """
    path = Path(path)
    text = format_ntu_skeleton(data, body_ids)
    return write_text_atomic(path, text)
