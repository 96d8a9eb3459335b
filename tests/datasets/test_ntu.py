"""NTU RGB+D reader: names, splits, skip lists, bodies, noise removal; real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.ntu import denoise_bodies, ntu_splits, parse_ntu_name, read_ntu_skeleton, read_skip_list

from .conftest import one_body_frames, person, write_ntu


def test_parse_name() -> None:
    n = parse_ntu_name("S018C002P045R001A120.skeleton")
    assert n == (18, 2, 45, 1, 120) and n.performer == 45 and n.action == 120
    with pytest.raises(DatasetFormatError, match="SsssCccc"):
        parse_ntu_name("S1C2P3R1A13.skeleton")


@pytest.mark.parametrize(
    ("dataset", "name", "expected"),
    [
        ("ntu60", "S001C001P001R001A001", {"xsub": "train", "xview": "test"}),
        ("ntu60", "S001C003P003R001A001", {"xsub": "test", "xview": "train"}),
        ("ntu120", "S018C001P045R001A100", {"xsub": "train", "xset": "train"}),
        ("ntu120", "S019C001P044R001A100", {"xsub": "test", "xset": "test"}),
        ("synthetic", "S001C001P003R001A001", {"xsub": "train", "xview": "test"}),
        ("synthetic", "S001C002P004R001A001", {"xsub": "test", "xview": "train"}),
    ],
)
def test_splits(dataset: str, name: str, expected: dict[str, str]) -> None:
    assert ntu_splits(dataset, parse_ntu_name(name)) == expected


def test_reads_values_metadata_and_layout(ntu_file) -> None:
    path, xyz = ntu_file
    s = read_ntu_skeleton(path)
    assert s.data.shape == (3, 12, 25, 2) and s.data.dtype == np.float32
    np.testing.assert_allclose(s.data[..., 0].transpose(1, 2, 0), xyz, rtol=1e-6, atol=1e-6)
    assert not s.data[..., 1].any()
    assert (s.label, s.setup, s.camera, s.performer, s.replication) == (12, 1, 2, 3, 1)
    assert (s.num_frames, s.num_bodies, s.source) == (12, 1, path.name)


def test_crlf_equals_lf(tmp_path: Path) -> None:
    frames = one_body_frames(person(np.random.default_rng(1), 5))
    lf = read_ntu_skeleton(write_ntu(tmp_path / "lf" / "S001C001P001R001A001.skeleton", frames))
    crlf = read_ntu_skeleton(write_ntu(tmp_path / "crlf" / "S001C001P001R001A001.skeleton", frames, "\r\n"))
    assert np.array_equal(lf.data, crlf.data)


def test_unusual_spacing_takes_the_slow_path(tmp_path: Path, ntu_file) -> None:
    path, _ = ntu_file
    spaced = tmp_path / "x" / path.name
    spaced.parent.mkdir()
    spaced.write_text(path.read_text().replace(" 250.1", "\t 250.1"))
    assert np.array_equal(read_ntu_skeleton(spaced).data, read_ntu_skeleton(path).data)


def test_bodies_tracked_by_id_gaps_and_most_active_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    calm, busy = person(rng, 20), person(rng, 20, x0=1.0)
    busy = busy + np.linspace(0, 1, 20)[:, None, None]  # moves a lot
    frames = [[("7", calm[t]), ("9", busy[t])] for t in range(20)]
    frames[5] = []  # a gap
    frames[6] = [("9", busy[6]), ("7", calm[6])]  # order in the file changes, ids do not
    s = read_ntu_skeleton(write_ntu(tmp_path / "S001C001P001R001A050.skeleton", frames), denoise=False)
    np.testing.assert_allclose(s.data[:, 6, :, 0].T, busy[6], atol=1e-6)
    np.testing.assert_allclose(s.data[:, 6, :, 1].T, calm[6], atol=1e-6)
    assert not s.data[:, 5].any() and s.num_bodies == 2
    one = read_ntu_skeleton(tmp_path / "S001C001P001R001A050.skeleton", max_bodies=1, denoise=False)
    assert one.data.shape[-1] == 1 and np.array_equal(one.data[..., 0], s.data[..., 0])


def test_denoise_drops_short_and_wide_bodies() -> None:
    rng = np.random.default_rng(3)
    real = (np.arange(30), person(rng, 30))
    short = (np.arange(5), person(rng, 5))
    wide = (np.arange(30), person(rng, 30)[..., [1, 0, 2]])  # lying: wider than tall
    kept = denoise_bodies([real, short, wide])
    assert len(kept) == 1 and kept[0] is real
    assert denoise_bodies([wide]) == [wide]  # a lone body is never dropped


def test_skip_list(tmp_path: Path) -> None:
    p = tmp_path / "missing.txt"
    p.write_text("302 of the samples ...\nplease ignore\n\nS001C002P005R002A008\nS001C002P006R001A008\n")
    assert read_skip_list(p) == {"S001C002P005R002A008", "S001C002P006R001A008"}


# ---- real files -------------------------------------------------------------------------------


def _first_joint_line(path: Path) -> list[float]:
    lines = path.read_text().splitlines()
    return [float(v) for v in lines[4].split()[:3]]  # frame count, body count, body info, joint count


@pytest.mark.realdata
def test_every_real_ntu_file_parses(shared_data: Path) -> None:
    files = sorted((shared_data / "ntu" / "raw").glob("*.skeleton"))
    assert len(files) == 69
    for f in files:
        s = read_ntu_skeleton(f)
        assert s.num_frames == int(f.read_text().split("\n", 1)[0]) == s.data.shape[1], f
        if s.num_bodies == 1:  # the only body is body 1: its first joint is the file's 5th line
            np.testing.assert_allclose(s.data[:, 0, 0, 0], _first_joint_line(f), rtol=1e-6)
        assert s.data[..., 0].any() and np.isfinite(s.data).all()


@pytest.mark.realdata
def test_real_crlf_variants_equal_lf(shared_data: Path) -> None:
    for f in sorted((shared_data / "ntu" / "variants_crlf").glob("*.skeleton")):
        assert b"\r\n" in f.read_bytes()
        assert np.array_equal(read_ntu_skeleton(f).data, read_ntu_skeleton(shared_data / "ntu" / "raw" / f.name).data)


@pytest.mark.realdata
@pytest.mark.parametrize("action", range(24, 30))
def test_real_spurious_body_is_removed(shared_data: Path, action: int) -> None:
    f = shared_data / "ntu" / "raw" / f"S001C001P001R001A{action:03d}.skeleton"
    noisy, clean = read_ntu_skeleton(f, denoise=False), read_ntu_skeleton(f)
    assert clean.num_bodies == noisy.num_bodies == 2
    assert noisy.data[..., 1].any() and not clean.data[..., 1].any()


@pytest.mark.realdata
def test_real_two_person_classes_keep_two_bodies(shared_data: Path) -> None:
    for f in sorted((shared_data / "ntu" / "raw").glob("*A05[0-9].skeleton")):
        assert read_ntu_skeleton(f).data[..., 1].any(), f


@pytest.mark.realdata
def test_real_skip_lists(shared_data: Path) -> None:
    meta = shared_data / "ntu" / "meta"
    assert len(read_skip_list(meta / "NTU_RGBD_samples_with_missing_skeletons.txt")) == 302
    assert len(read_skip_list(meta / "NTU_RGBD120_samples_with_missing_skeletons.txt")) == 535
