"""NTU RGB+D 60/120 ``.skeleton`` files: reader, file names, splits, skip lists, noise bodies.

File format (one text file per recording, LF or CRLF line endings)::

    T                                   frame count
    B                                   per frame: body count (0 = no body, a gap)
    id clipped l_conf l_state r_conf r_state restricted lean_x lean_y tracking   per body: 10 fields
    25                                  joint count
    x y z dx dy cx cy ow ox oy oz state one line of 12 fields per joint (x, y, z in metres first)

The structure (frame, body and joint counts) is walked line by line, but the joint lines, which are
95% of the file, are parsed in bulk (datasets/decimal_text.py): only x, y, z are converted, the
other 9 fields are counted. A slow per-line pass runs only for unusual spacing or to locate an error.
Names are ``SsssCcccPpppRrrrAaaa`` (setup, camera, performer, replication, action).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from crossmoco.datasets.decimal_text import field_bounds, line_bounds, parse_numbers
from crossmoco.datasets.errors import DatasetFormatError, read_utf8, read_utf8_lines
from crossmoco.datasets.sample import Sample

NUM_JOINTS = 25
MAX_BODIES_PER_FRAME = 6  # Kinect v2 tracks at most 6 bodies
_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

# Cross-subject training performers: NTU-60 (Shahroudy et al. 2016, and §IV-A of the paper) and
# NTU-120 (Liu et al. 2019); the other performers are the test set.
NTU60_XSUB_TRAIN = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN | frozenset((
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89,
    91, 92, 93, 94, 95, 97, 98, 100, 103,
))  # fmt: skip

# Noise-body rules of the standard NTU denoising (CTR-GCN data/ntu/get_raw_denoised_data.py).
NOISE_MIN_FRAMES = 11  # a body tracked in <= 10 frames is noise
NOISE_SPREAD_RATIO = 0.8  # a frame where x-spread > 0.8 * y-spread is not a standing body
NOISE_SPREAD_FRACTION = 0.69754  # a body with at least this fraction of such frames is noise


class NtuName(NamedTuple):
    """The fields of an NTU file name, 1-based as written."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int


def parse_ntu_name(name: str | Path) -> NtuName:
    """``S001C002P003R002A013[.skeleton]`` -> NtuName(1, 2, 3, 2, 13)."""
    m = _NAME.fullmatch(Path(name).name.removesuffix(".skeleton"))
    if m is None:
        raise DatasetFormatError(name, None, "file name is not SsssCcccPpppRrrrAaaa[.skeleton]")
    return NtuName(*(int(g) for g in m.groups()))


_SPLIT_RULES: dict[str, dict[str, Callable[[NtuName], bool]]] = {  # split -> "is a training sample"
    "ntu60": {"xsub": lambda n: n.performer in NTU60_XSUB_TRAIN, "xview": lambda n: n.camera != 1},
    "ntu120": {"xsub": lambda n: n.performer in NTU120_XSUB_TRAIN, "xset": lambda n: n.setup % 2 == 0},
    "synthetic": {"xsub": lambda n: n.performer % 2 == 1, "xview": lambda n: n.camera != 1},
}


def ntu_splits(dataset: str, name: NtuName) -> dict[str, str]:
    """Split name -> "train" or "test" for one sample.

    ntu60: xsub (training performers above), xview (camera 1 is the test set).
    ntu120: xsub (training performers above), xset (even setup numbers train).
    synthetic: xsub trains on odd performer ids, tests on even ones; xview tests on camera 1.
    """
    if dataset not in _SPLIT_RULES:
        raise ValueError(f"not an NTU-format dataset: {dataset!r}")
    return {split: _side(is_train(name)) for split, is_train in _SPLIT_RULES[dataset].items()}


def _side(train: bool) -> str:
    return "train" if train else "test"


def read_skip_list(path: str | Path) -> frozenset[str]:
    """Sample names in an (official or user) missing-skeleton list; header lines are ignored."""
    return frozenset(m.group(0) for line in read_utf8_lines(path) if (m := _NAME.search(line)))


def read_ntu_skeleton(path: str | Path, *, max_bodies: int = 2, denoise: bool = True) -> Sample:
    """Parse one ``.skeleton`` file at its original frame count.

    Bodies are tracked by their id; with ``denoise`` the spurious ones are dropped (see
    :func:`denoise_bodies`); bodies whose tracks never overlap in time are joined into one actor
    (see :func:`join_actors`), and the ``max_bodies`` actors remain, the most active body's first.

    Shape:
        returned ``.data``: (3, T, 25, max_bodies) float32; a frame without a body is zeros.
    """
    name = parse_ntu_name(path)
    if not 1 <= name.action <= 120:
        raise DatasetFormatError(path, None, f"unknown class A{name.action:03d} (NTU has A001-A120)")
    raw, lines = read_utf8(path)
    num_frames, frame_of, body_ids, joint_rows = _walk(path, lines)
    xyz = _parse_joint_lines(path, raw, lines, joint_rows)  # (B_total, 25, 3)
    bodies = _group_bodies(frame_of, body_ids, xyz)
    if denoise:
        bodies = denoise_bodies(bodies)
    data = np.zeros((3, num_frames, NUM_JOINTS, max_bodies), np.float32)
    for m, (frames, joints) in enumerate(join_actors(bodies, max_bodies)):
        data[..., m][:, frames] = joints.transpose(2, 0, 1)  # (t, V, C) -> (C, t, V)
    most = int(np.bincount(frame_of, minlength=1).max()) if len(frame_of) else 0
    return Sample(data, name.action - 1, Path(path).name, name.setup, name.camera, name.performer,
                  name.replication, num_frames, most)  # fmt: skip


def _int_at(path: str | Path, lines: list[str], i: int, what: str) -> int:
    if i >= len(lines):
        raise DatasetFormatError(path, i + 1, f"file ends early: expected {what}")
    try:
        return int(lines[i])
    except ValueError:
        raise DatasetFormatError(path, i + 1, f"expected {what} (an integer), found {lines[i][:40]!r}") from None


def _walk(path, lines: list[str]) -> tuple[int, np.ndarray, list[str], np.ndarray]:
    """Check the frame/body/joint counts; return T, each body's frame, id and first joint line."""
    while lines and not lines[-1].strip():  # trailing blank lines are not content
        lines = lines[:-1]
    num_frames = _int_at(path, lines, 0, "the frame count")
    if not 1 <= num_frames <= len(lines):
        raise DatasetFormatError(path, 1, f"impossible frame count {num_frames} for a file of {len(lines)} lines")
    i, frame_of, ids, starts = 1, [], [], []
    for f in range(num_frames):
        count = _int_at(path, lines, i, f"the body count of frame {f + 1}")
        if not 0 <= count <= MAX_BODIES_PER_FRAME:
            raise DatasetFormatError(path, i + 1, f"impossible body count {count} (0-{MAX_BODIES_PER_FRAME})")
        i += 1
        for _ in range(count):
            info = lines[i].split() if i < len(lines) else []
            if len(info) != 10:
                raise DatasetFormatError(path, i + 1, f"body info line needs 10 fields, found {len(info)}")
            joints = _int_at(path, lines, i + 1, "the joint count")
            if joints != NUM_JOINTS:
                raise DatasetFormatError(path, i + 2, f"expected {NUM_JOINTS} joints, found {joints}")
            frame_of.append(f)
            ids.append(info[0])
            starts.append(i + 2)
            i += 2 + NUM_JOINTS
    if i > len(lines):
        raise DatasetFormatError(path, len(lines), f"file ends early: {num_frames} frames announced")
    if i < len(lines):
        raise DatasetFormatError(path, i + 1, f"unexpected content after frame {num_frames}")
    return num_frames, np.asarray(frame_of, np.int64), ids, np.asarray(starts, np.int64)


def _parse_joint_lines(path, raw: bytes, lines: list[str], starts: np.ndarray) -> np.ndarray:
    """x, y, z of every joint line, in bulk -> (bodies, 25, 3); the line is named on any error."""
    rows = (starts[:, None] + np.arange(NUM_JOINTS)).ravel()
    buf = np.frombuffer(raw, np.uint8)
    lo, hi = line_bounds(buf)
    fields = field_bounds(buf, lo[rows], hi[rows], 12)
    xyz = None if fields is None else parse_numbers(buf, fields[0][:, :3].ravel(), fields[1][:, :3].ravel())
    if xyz is None:
        xyz = _parse_joint_lines_slowly(path, lines, rows)
    with np.errstate(over="ignore"):  # a coordinate beyond float32's range becomes inf: refused below
        xyz = xyz.reshape(len(rows), 3).astype(np.float32)
    bad = ~np.isfinite(xyz).all(axis=1)  # after the cast: what the shards would hold
    if bad.any():
        raise DatasetFormatError(path, int(rows[bad.argmax()]) + 1,
                                 "joint coordinate is NaN or infinite (or beyond float32's range)")
    return xyz.reshape(len(starts), NUM_JOINTS, 3)


def _parse_joint_lines_slowly(path, lines: list[str], rows: np.ndarray) -> np.ndarray:
    """Line by line with str.split/float: any whitespace, and the first bad line is reported."""
    out = np.empty((len(rows), 3))
    for n, k in enumerate(rows):
        fields = lines[k].split()
        if len(fields) != 12:
            raise DatasetFormatError(path, int(k) + 1, f"joint line needs 12 fields, found {len(fields)}")
        try:
            out[n] = [float(v) for v in fields[:3]]
        except ValueError:
            raise DatasetFormatError(path, int(k) + 1, f"non-numeric x, y, z in {lines[k][:60]!r}") from None
    return out


Body = tuple[np.ndarray, np.ndarray]  # (frame indices (t,), joints (t, V, 3))


def _group_bodies(frame_of: np.ndarray, ids: list[str], xyz: np.ndarray) -> list[Body]:
    """One (frames, joints) pair per body id, in order of first appearance."""
    first: dict[str, int] = {}
    for body_id in ids:
        first.setdefault(body_id, len(first))
    which = np.fromiter((first[b] for b in ids), np.int64, len(ids))
    return [(frame_of[which == b], xyz[which == b]) for b in range(len(first))]


def _motion(body: Body) -> float:
    """Motion energy: summed variance of x, y, z over all joints and frames of a body."""
    return float(body[1].reshape(-1, 3).var(axis=0).sum())


def join_actors(bodies: list[Body], max_actors: int) -> list[Body]:
    """Bodies -> at most ``max_actors`` actors: Kinect gives a performer a new body ID when it
    loses and re-finds them, so a body whose track does not overlap an actor's is that actor.

    As CTR-GCN's ``get_two_actors_points`` (data/ntu/get_raw_denoised_data.py): bodies in order of
    motion, most active first; each joins the first actor whose interval (first to last frame) it
    does not overlap (sharing one boundary frame counts as no overlap; the later body wins that
    frame), else starts a new actor while there is a slot, else is dropped. Unlike CTR-GCN, a new
    actor's interval starts at its own first frame (CTR-GCN's second actor starts at frame 0).
    """
    actors: list[tuple[list[Body], int, int]] = []  # (bodies, first frame, last frame)
    for body in sorted(bodies, key=_motion, reverse=True):
        start, end = int(body[0][0]), int(body[0][-1])
        for k, (parts, s, e) in enumerate(actors):
            if min(e, end) - max(s, start) <= 0:
                actors[k] = ([*parts, body], min(s, start), max(e, end))
                break
        else:
            if len(actors) < max_actors:
                actors.append(([body], start, end))
    return [(np.concatenate([b[0] for b in parts]), np.concatenate([b[1] for b in parts])) for parts, _, _ in actors]


def denoise_bodies(bodies: list[Body]) -> list[Body]:
    """Drop spurious bodies as standard NTU preprocessing does (CTR-GCN's rules above).

    A body is noise when it is tracked in fewer than NOISE_MIN_FRAMES frames, or when in at least
    NOISE_SPREAD_FRACTION of its frames it is wider (x) than 0.8 x its height (y): the Kinect
    ghost bodies of A024-A029 look like that. A single body, or a set where every body would go,
    is left alone.
    """
    if len(bodies) < 2:
        return bodies
    kept = [b for b in bodies if len(b[0]) >= NOISE_MIN_FRAMES and not _too_wide(b[1])]
    return kept or bodies


def _too_wide(joints: np.ndarray) -> bool:
    spread = joints.max(axis=1) - joints.min(axis=1)  # (t, 3)
    wide = spread[:, 0] > NOISE_SPREAD_RATIO * spread[:, 1]
    return float(wide.mean()) >= NOISE_SPREAD_FRACTION
