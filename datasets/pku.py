"""PKU-MMD (Part I and Part II share the format): skeleton files, label files, split files.

A release folder holds ``skeleton/<video>.txt`` (one line of 150 numbers per frame: body 1's 25
joints x (x, y, z), then body 2's, all zeros when absent), ``label/<video>.txt`` (one
``label,start,end,confidence`` line per action instance) and ``split/cross-subject*.txt`` /
``split/cross-view*.txt`` (line 2 lists the training videos, line 4 the validation videos).
Videos are ``0160-L`` (Part I) or ``A01N01-L`` (Part II, ``A<action>N<subject>-<view>``: the
subject is the performer, so a subject-held-out validation split holds out people); L, M, R are
the three views. Part I names carry no subject (performer 0).

Our reading of the label frames: ``start`` and ``end`` are 0-based and half-open, the interval is
``frames[start:end]``; the release's own check holds (every ``end`` <= the frame count, and some
``start`` is 0). Every labelled interval is one sample, confidence 0 included.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from crossmoco.datasets.decimal_text import field_bounds, line_bounds, parse_numbers
from crossmoco.datasets.errors import DatasetFormatError, read_utf8, read_utf8_lines
from crossmoco.datasets.sample import Sample

NUM_CLASSES = 51
NUM_JOINTS = 25
VALUES_PER_FRAME = 2 * NUM_JOINTS * 3
VIEWS = {"L": 1, "M": 2, "R": 3}
_VIDEO = re.compile(r"(\d{4}|A\d{2}N(\d{2}))-([LMR])")


class Interval(NamedTuple):
    """One line of a label file: a 0-based class and a half-open frame range."""

    label: int
    start: int
    end: int
    confidence: int
    line: int


def read_pku_skeleton(path: str | Path) -> np.ndarray:
    """A skeleton file -> (T, 2, 25, 3) float32 (frame, body, joint, xyz)."""
    raw, lines = read_utf8(path)
    rows = np.flatnonzero([bool(line.strip()) for line in lines])
    buf = np.frombuffer(raw, np.uint8)
    lo, hi = line_bounds(buf)
    fields = field_bounds(buf, lo[rows], hi[rows], VALUES_PER_FRAME)
    values = None if fields is None else parse_numbers(buf, fields[0].ravel(), fields[1].ravel())
    if values is None:
        values = _parse_slowly(path, lines, rows)
    with np.errstate(over="ignore"):  # a coordinate beyond float32's range becomes inf: refused below
        values = values.reshape(len(rows), VALUES_PER_FRAME).astype(np.float32)
    bad = ~np.isfinite(values).all(axis=1)  # after the cast: what the shards would hold
    if bad.any():
        raise DatasetFormatError(path, int(rows[bad.argmax()]) + 1, "coordinate is NaN or infinite (or beyond "
                                 "float32's range)")
    return values.reshape(len(rows), 2, NUM_JOINTS, 3)


def _parse_slowly(path, lines: list[str], rows: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows), VALUES_PER_FRAME))
    for n, k in enumerate(rows):
        fields = lines[k].split()
        if len(fields) != VALUES_PER_FRAME:
            raise DatasetFormatError(path, int(k) + 1, f"a frame needs {VALUES_PER_FRAME} numbers, found {len(fields)}")
        try:
            out[n] = [float(v) for v in fields]
        except ValueError:
            raise DatasetFormatError(path, int(k) + 1, f"non-numeric value in {lines[k][:60]!r}") from None
    return out


def read_pku_labels(path: str | Path, num_frames: int) -> list[Interval | DatasetFormatError]:
    """Every line of a label file: an Interval, or the error that line has (so one bad line does
    not cost the video's other samples)."""
    out: list[Interval | DatasetFormatError] = []
    for k, line in enumerate(read_utf8_lines(path)):
        if line.strip():
            try:
                out.append(_interval(path, k + 1, line, num_frames))
            except DatasetFormatError as e:
                out.append(e)
    return out


def _interval(path, line_no: int, line: str, num_frames: int) -> Interval:
    parts = line.split(",")
    try:
        label, start, end, conf = (int(p) for p in parts)
    except ValueError:
        raise DatasetFormatError(path, line_no, f"expected label,start,end,confidence, found {line[:60]!r}") from None
    if not 1 <= label <= NUM_CLASSES:
        raise DatasetFormatError(path, line_no, f"unknown class {label} (PKU-MMD has 1-{NUM_CLASSES})")
    if start < 0 or end <= start:
        raise DatasetFormatError(path, line_no, f"empty or reversed interval: start {start}, end {end}")
    if end > num_frames:
        raise DatasetFormatError(path, line_no, f"interval ends at {end}, past the {num_frames} frames recorded")
    return Interval(label - 1, start, end, conf, line_no)


def interval_sample(frames: np.ndarray, video: str, interval: Interval, max_bodies: int = 2) -> Sample:
    """One labelled interval of a video as a Sample.

    Shape:
        frames: (T, 2, 25, 3) -> Sample.data: (3, end - start, 25, max_bodies)
    """
    clip = frames[interval.start : interval.end, :max_bodies]  # (t, M, V, C)
    present = np.abs(clip).sum(axis=(0, 2, 3)) > 0
    data = np.zeros((3, len(clip), NUM_JOINTS, max_bodies), np.float32)
    data[..., : clip.shape[1]] = clip.transpose(3, 0, 2, 1)  # (t, M, V, C) -> (C, t, V, M)
    view = VIEWS[video[-1]]
    return Sample(data, interval.label, f"{video}:{interval.start}-{interval.end}", camera=view,
                  performer=pku_subject(video), num_frames=len(clip), num_bodies=int(present.sum()))  # fmt: skip


def pku_subject(video: str) -> int:
    """The subject of a Part II video (``A01N07-L`` -> 7); 0 for Part I, whose names carry none."""
    m = _VIDEO.fullmatch(video)
    return int(m.group(2)) if m is not None and m.group(2) is not None else 0


def read_pku_video(skeleton: str | Path, labels: str | Path, max_bodies: int = 2) -> list[Sample | DatasetFormatError]:
    """All labelled intervals of one video; a bad label line is its error in the list (preprocessing
    quarantines that interval and keeps the rest), a bad skeleton file raises."""
    video = pku_video_name(skeleton)
    frames = read_pku_skeleton(skeleton)
    return [i if isinstance(i, DatasetFormatError) else interval_sample(frames, video, i, max_bodies)
            for i in read_pku_labels(labels, len(frames))]  # fmt: skip


def pku_video_name(path: str | Path) -> str:
    stem = Path(path).stem
    if _VIDEO.fullmatch(stem) is None:
        raise DatasetFormatError(path, None, "file name is not a PKU-MMD video (0160-L or A01N01-L)")
    return stem


def read_pku_split(path: str | Path) -> tuple[frozenset[str], frozenset[str]]:
    """An official split file -> (training videos, validation videos)."""
    lines = read_utf8_lines(path)
    heads = [k for k, line in enumerate(lines) if line.strip().lower().startswith(("training", "valid"))]
    if len(heads) != 2 or not lines[heads[0]].strip().lower().startswith("training"):
        raise DatasetFormatError(path, 1, "expected 'Training videos:', names, 'Validation videos:', names")
    blocks = (" ".join(lines[heads[0] + 1 : heads[1]]), " ".join(lines[heads[1] + 1 :]))
    names = [frozenset(n.strip() for n in block.split(",") if n.strip()) for block in blocks]
    return names[0], names[1]


def pku_split_files(raw_dir: Path) -> dict[str, Path]:
    """Split name -> file in ``raw_dir/split`` (Part I ``cross-subject.txt``, Part II ``cross_subject_v2.txt``)."""
    out = {}
    for split, stem in (("xsub", "cross[-_]subject"), ("xview", "cross[-_]view")):
        found = sorted(p for p in (raw_dir / "split").glob("*.txt") if re.match(stem, p.name))
        if not found:
            raise DatasetFormatError(raw_dir / "split", None, f"no {split} split file ({stem}*.txt)")
        out[split] = found[0]
    return out


def pku_split_lists(raw_dir: Path) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Split name -> (training videos, validation videos), from the release's split files."""
    return {split: read_pku_split(path) for split, path in pku_split_files(Path(raw_dir)).items()}


def pku_splits(video: str, split_lists: dict[str, tuple[frozenset[str], frozenset[str]]]) -> dict[str, str]:
    """ "train", "test", or "none" (a video neither list names) under each split."""
    return {s: "train" if video in tr else "test" if video in te else "none" for s, (tr, te) in split_lists.items()}
