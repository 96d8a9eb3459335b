"""Preprocessing: resizing, centring, shards + manifest, idempotence, parallel = serial, real UCLA."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.preprocess import center_on_joint, preprocess_dataset, resize_frames, to_fixed_size
from crossmoco.datasets.sample import Sample

from .conftest import one_body_frames, person, write_ntu


def test_resize_is_linear_and_keeps_endpoints() -> None:
    data = np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)  # frames 0, 1, 2, 3
    out = resize_frames(data, 7)
    np.testing.assert_allclose(out.ravel(), [0, 0.5, 1, 1.5, 2, 2.5, 3])
    assert np.array_equal(resize_frames(np.full((3, 1, 2, 1), 5.0, np.float32), 50), np.full((3, 50, 2, 1), 5.0))


def test_center_keeps_absent_bodies_zero() -> None:
    data = np.ones((3, 2, 4, 2), np.float32)
    data[..., 1] = 0
    data[:, 0, 2, 0] = [1.0, 2.0, 3.0]
    present = np.abs(data).sum(axis=(0, 2)) > 0
    out = center_on_joint(data, present, center0=2)
    assert not out[:, 0, 2, 0].any() and not out[..., 1].any()
    np.testing.assert_allclose(out[:, 1, 0, 0], [0, -1, -2])


def test_gaps_are_dropped_before_resizing() -> None:
    data = np.zeros((3, 5, 25, 2), np.float32)
    data[:, 0, :, 0], data[:, 4, :, 0] = 1.0, 3.0  # frames 1-3 are gaps
    out = to_fixed_size(Sample(data, 0, "x"), PreprocessConfig(num_frames=3, center=False), 20).data
    np.testing.assert_allclose(out[0, :, 0, 0], [1, 2, 3])
    assert out.shape == (3, 3, 25, 2)


def _synthetic_dir(root: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        name = f"S001C00{1 + i % 2}P00{1 + i % 4}R001A00{1 + i % 3}.skeleton"
        write_ntu(root / name, one_body_frames(person(rng, 10 + i)))
    return root


def test_shards_manifest_and_idempotence(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="crossmoco.datasets")
    raw = _synthetic_dir(tmp_path / "raw")
    cfg = PreprocessConfig(shard_rows=3)
    out = preprocess_dataset("synthetic", raw, tmp_path / "out", cfg, workers=1)
    m = json.loads((out / "manifest.json").read_text())
    assert m["num_rows"] == 8 and [s["rows"] for s in m["shards"]] == [3, 3, 2]
    assert m["counts"]["xview"] == {"train": {"total": 4, "per_class": [1, 2, 1] + [0] * 12},
                                    "test": {"total": 4, "per_class": [2, 1, 1] + [0] * 12}}  # fmt: skip
    assert m["counts"]["xsub"]["train"]["total"] == 4 and m["config"]["shard_rows"] == 3
    assert not list(out.glob(".*tmp*"))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert preprocess_dataset("synthetic", raw, tmp_path / "out", cfg, workers=1) == out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before and "nothing to do" in caplog.text
    other = preprocess_dataset("synthetic", raw, tmp_path / "out", PreprocessConfig(num_frames=20), workers=1)
    assert other != out and json.loads((other / "manifest.json").read_text())["shape"] == [3, 20, 25, 2]


def test_parallel_equals_serial(tmp_path: Path) -> None:
    raw = _synthetic_dir(tmp_path / "raw", 6)
    a = preprocess_dataset("synthetic", raw, tmp_path / "a", PreprocessConfig(), workers=1)
    b = preprocess_dataset("synthetic", raw, tmp_path / "b", PreprocessConfig(), workers=2)
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert [s["sha256"] for s in ma["shards"]] == [s["sha256"] for s in mb["shards"]]


def test_ntu60_skips_ntu120_classes_and_listed_samples(tmp_path: Path) -> None:
    raw = _synthetic_dir(tmp_path / "raw", 3)
    write_ntu(raw / "S018C001P001R001A100.skeleton", one_body_frames(person(np.random.default_rng(1), 9)))
    skip = tmp_path / "skip.txt"
    skip.write_text("header\nS001C001P001R001A001\n")
    out = preprocess_dataset("ntu60", raw, tmp_path / "out", PreprocessConfig(skip_list=str(skip)), workers=1)
    m = json.loads((out / "manifest.json").read_text())
    assert m["num_rows"] == 2 and sorted(s["reason"][:5] for s in m["skipped"]) == ["class", "on th"]


@pytest.mark.realdata
def test_real_ucla_preprocesses_to_1020_and_464(shared_data: Path, tmp_path: Path) -> None:
    out = preprocess_dataset("ucla", shared_data / "nw_ucla" / "all_sqe", tmp_path, PreprocessConfig(), workers=2)
    m = json.loads((out / "manifest.json").read_text())
    assert (m["counts"]["xview"]["train"]["total"], m["counts"]["xview"]["test"]["total"]) == (1020, 464)
    assert m["shape"] == [3, 50, 20, 1] and not m["quarantined"] and m["num_classes"] == 10  # one body (M = 1)


@pytest.mark.realdata
def test_real_ntu_and_pku_preprocess(shared_data: Path, tmp_path: Path) -> None:
    ntu = preprocess_dataset("ntu60", shared_data / "ntu" / "raw", tmp_path, PreprocessConfig(), workers=1)
    m = json.loads((ntu / "manifest.json").read_text())
    assert m["num_rows"] == 69 and m["counts"]["xview"]["test"]["total"] == 62
    pku = preprocess_dataset("pku", shared_data / "pku_mmd" / "part1", tmp_path, PreprocessConfig(), workers=1)
    assert json.loads((pku / "manifest.json").read_text())["num_rows"] == 99


def test_face_forward_turns_the_shoulder_line_onto_x_by_hand():
    """Left shoulder at the origin, right shoulder at (0, 0.2, 1): theta = atan2(1, 0) = 90 degrees, so
    the right shoulder goes to (1, 0.2, 0) and a joint at (1, 0, 0) goes to (0, 0, -1); y is untouched."""
    from crossmoco.datasets.preprocess import face_forward

    data = np.zeros((3, 2, 3, 1), np.float32)  # (C, T, V, M): joints 0 = left, 1 = right shoulder, 2 = other
    data[:, 0, 1, 0] = [0.0, 0.2, 1.0]
    data[:, 0, 2, 0] = [1.0, 0.0, 0.0]
    out = face_forward(data, np.array([[True], [False]]), (0, 1))
    np.testing.assert_allclose(out[:, 0, 1, 0], [1.0, 0.2, 0.0], atol=1e-6)
    np.testing.assert_allclose(out[:, 0, 2, 0], [0.0, 0.0, -1.0], atol=1e-6)
    np.testing.assert_array_equal(out[:, 1], 0.0)  # an absent frame stays zero


def test_real_ucla_faces_forward_in_its_first_frame(shared_data, tmp_path):
    from crossmoco.datasets.loader import load_split_arrays

    out = preprocess_dataset("ucla", shared_data / "nw_ucla" / "all_sqe", tmp_path, PreprocessConfig(), workers=2)
    x, _ = load_split_arrays(out, "xview", "test")
    shoulders = x[:, :, 0, 8, 0] - x[:, :, 0, 4, 0]  # right - left shoulder (0-based 8, 4), frame 0
    assert np.abs(shoulders[:, 2]).max() < 1e-4 and (shoulders[:, 0] > 0).all()
