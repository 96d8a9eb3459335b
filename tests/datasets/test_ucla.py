"""NW-UCLA JSON reader; the whole real dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets.ucla import parse_ucla_name, read_ucla_json, ucla_splits

from .conftest import write_ucla


def test_reads_sample(tmp_path: Path) -> None:
    xyz = np.random.default_rng(0).uniform(-1, 3, (7, 20, 3)).round(6)
    s = read_ucla_json(write_ucla(tmp_path / "a08_s02_e03_v01.json", xyz, 7), max_bodies=2)
    assert s.data.shape == (3, 7, 20, 2) and not s.data[..., 1].any()
    np.testing.assert_allclose(s.data[..., 0].transpose(1, 2, 0), xyz, rtol=1e-6)
    assert (s.label, s.performer, s.replication, s.camera, s.num_frames) == (6, 2, 3, 1, 7)


def test_name_and_split() -> None:
    assert parse_ucla_name("a12_s10_e04_v03.json") == (12, 10, 4, 3)
    assert ucla_splits(parse_ucla_name("a01_s01_e00_v02")) == {"xview": "train"}
    assert ucla_splits(parse_ucla_name("a01_s01_e00_v03")) == {"xview": "test"}


@pytest.mark.realdata
def test_every_real_ucla_file_parses(shared_data: Path) -> None:
    files = sorted((shared_data / "nw_ucla" / "all_sqe").glob("*.json"))
    samples = [read_ucla_json(f) for f in files]
    assert len(samples) == 1484 and sum(s.num_frames for s in samples) == 58534
    assert {s.label for s in samples} == set(range(10))
    views = [s.camera for s in samples]
    assert (views.count(1) + views.count(2), views.count(3)) == (1020, 464)
    single = next(s for s in samples if s.source == "a02_s09_e04_v03.json")
    assert single.num_frames == 1 and single.label == 1
