"""PKU-MMD reader: skeleton and label files, intervals as samples, split files; real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.pku import pku_split_lists, read_pku_labels, read_pku_skeleton, read_pku_split, read_pku_video

from .conftest import write_pku_release


def _release(tmp_path: Path) -> tuple[Path, np.ndarray]:
    values = np.random.default_rng(0).uniform(-1, 1, (30, 150)).round(6)
    values[:, 75:] = 0  # body 2 absent
    root = write_pku_release(tmp_path, {"0001-L": (values, "3,0,10,2\n51,10,30,0\n")}, ["0001-L"], ["0001-M"])
    return root, values


def test_video_intervals_are_samples(tmp_path: Path) -> None:
    root, values = _release(tmp_path)
    a, b = read_pku_video(root / "skeleton" / "0001-L.txt", root / "label" / "0001-L.txt")
    assert a.data.shape == (3, 10, 25, 2) and b.data.shape == (3, 20, 25, 2)
    assert (a.label, b.label, a.camera, a.source, a.num_bodies) == (2, 50, 1, "0001-L:0-10", 1)
    frames = values.reshape(30, 2, 25, 3)
    np.testing.assert_allclose(a.data[:, 3, 7, 0], frames[3, 0, 7], rtol=1e-6)
    np.testing.assert_allclose(b.data[:, 0, :, 0].T, frames[10, 0], rtol=1e-6)


def test_split_files(tmp_path: Path) -> None:
    root, _ = _release(tmp_path)
    assert pku_split_lists(root)["xview"] == (frozenset({"0001-L"}), frozenset({"0001-M"}))


def test_bad_label_lines_are_reported_one_by_one(tmp_path: Path) -> None:
    p = tmp_path / "0001-L.txt"
    p.write_text("1,0,10,2\n1,40,30,2\n52,0,5,1\n1,20,99,1\n")
    items = read_pku_labels(p, 50)
    assert not isinstance(items[0], DatasetFormatError)
    assert [(e.line, e.reason.split()[0]) for e in items[1:]] == [(2, "empty"), (3, "unknown"), (4, "interval")]


@pytest.mark.realdata
def test_every_real_pku_skeleton_parses(shared_data: Path) -> None:
    root = shared_data / "pku_mmd" / "part1"
    for f in sorted((root / "skeleton").glob("*.txt")):
        frames = read_pku_skeleton(f)
        text = f.read_text().splitlines()
        assert len(frames) == len(text) and 1494 <= len(frames) <= 2911
        np.testing.assert_allclose(frames[0].ravel()[:3], [float(v) for v in text[0].split()[:3]], rtol=1e-6)
        assert len(read_pku_video(f, root / "label" / f.name)) > 0


@pytest.mark.realdata
def test_real_labels_and_splits(shared_data: Path) -> None:
    root = shared_data / "pku_mmd" / "part1"
    items = [i for f in sorted((root / "label").glob("*.txt")) for i in read_pku_labels(f, 10**6)]
    errors = [i for i in items if isinstance(i, DatasetFormatError)]
    assert len(items) == 21545 + 0 and len(errors) == 1
    assert errors[0].path.endswith("0043-L.txt") and "reversed" in errors[0].reason
    train, test = read_pku_split(root / "split" / "cross-subject.txt")
    assert (len(train), len(test)) == (944, 132)
    assert "0299-L" in test and "0160-M" in read_pku_split(root / "split" / "cross-view.txt")[1]
