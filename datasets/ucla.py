"""NW-UCLA Multiview Action3D in the common per-sample JSON layout (CTR-GCN's ``all_sqe``).

Each ``aXX_sYY_eZZ_vWW.json`` holds ``{"file_name": stem, "label": 1-based class,
"skeletons": T x 20 x 3}`` (Kinect v1 joints, metres). The 10 actions present are numbered 1-10,
skipping the two the dataset lacks (a07, a10). Split: views 1 and 2 train, view 3 tests (§IV-A,
following CTR-GCN).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from crossmoco.datasets.errors import DatasetFormatError, read_utf8
from crossmoco.datasets.sample import Sample

NUM_CLASSES = 10
NUM_JOINTS = 20
ACTION_TO_LABEL = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7, 9: 8, 11: 9, 12: 10}  # action -> 1-based label
TRAIN_VIEWS = frozenset((1, 2))
_NAME = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})")


class UclaName(NamedTuple):
    action: int
    subject: int
    repetition: int
    view: int


def parse_ucla_name(name: str | Path) -> UclaName:
    """``a02_s09_e04_v03[.json]`` -> UclaName(2, 9, 4, 3)."""
    m = _NAME.fullmatch(Path(name).name.removesuffix(".json"))
    if m is None:
        raise DatasetFormatError(name, None, "file name is not aXX_sYY_eZZ_vWW[.json]")
    return UclaName(*(int(g) for g in m.groups()))


def ucla_splits(name: UclaName) -> dict[str, str]:
    return {"xview": "train" if name.view in TRAIN_VIEWS else "test"}


def read_ucla_json(path: str | Path, *, max_bodies: int = 1) -> Sample:
    """One sample file.

    Shape:
        returned ``.data``: (3, T, 20, max_bodies) float32; bodies after the first are zeros.
    """
    name = parse_ucla_name(path)
    if name.action not in ACTION_TO_LABEL:
        raise DatasetFormatError(
            path, None, f"unknown action a{name.action:02d} (NW-UCLA has {sorted(ACTION_TO_LABEL)})"
        )
    _, lines = read_utf8(path)
    try:
        obj = json.loads("\n".join(lines))
    except json.JSONDecodeError as e:
        raise DatasetFormatError(path, e.lineno, f"not JSON: {e.msg}") from None
    if not isinstance(obj, dict) or not {"file_name", "label", "skeletons"} <= obj.keys():
        raise DatasetFormatError(path, None, "expected an object with file_name, label and skeletons")
    label = obj["label"]
    if not isinstance(label, int) or isinstance(label, bool) or label != ACTION_TO_LABEL[name.action]:  # true == 1
        raise DatasetFormatError(path, None, f"label {label!r} is not the class of a{name.action:02d} "
                                 f"({ACTION_TO_LABEL[name.action]})")  # fmt: skip
    joints = _skeletons(path, obj["skeletons"])  # (T, V, 3)
    data = np.zeros((3, len(joints), NUM_JOINTS, max_bodies), np.float32)
    data[..., 0] = joints.transpose(2, 0, 1)  # (T, V, C) -> (C, T, V)
    return Sample(data, label - 1, Path(path).name, camera=name.view, performer=name.subject,
                  replication=name.repetition, num_frames=len(joints), num_bodies=1)  # fmt: skip


def _skeletons(path, frames: object) -> np.ndarray:
    """Validate ``skeletons`` (T x 20 x 3 finite numbers) -> (T, 20, 3) float32."""
    if not isinstance(frames, list) or not frames:
        raise DatasetFormatError(path, None, "skeletons must be a non-empty list of frames")
    for t, frame in enumerate(frames):
        if not isinstance(frame, list) or len(frame) != NUM_JOINTS:
            n = len(frame) if isinstance(frame, list) else type(frame).__name__
            raise DatasetFormatError(path, None, f"skeletons[{t}] has {n} joints, expected {NUM_JOINTS}")
        for v, joint in enumerate(frame):
            if not isinstance(joint, list) or len(joint) != 3:
                raise DatasetFormatError(path, None, f"skeletons[{t}][{v}] is not an (x, y, z) triple")
            if any(isinstance(c, bool) for c in joint):  # JSON true/false: numbers to NumPy, not coordinates
                raise DatasetFormatError(path, None, f"skeletons[{t}][{v}] holds a boolean, not a coordinate")
    try:
        arr = np.asarray(frames, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetFormatError(path, None, "skeletons hold a non-numeric coordinate") from None
    with np.errstate(over="ignore"):  # a coordinate beyond float32's range becomes inf: refused below
        arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():  # after the cast: what the shards would hold
        t = int(np.argmax(~np.isfinite(arr).all(axis=(1, 2))))
        raise DatasetFormatError(path, None,
                                 f"skeletons[{t}] holds NaN or infinity (or a value beyond float32's range)")
    return arr
