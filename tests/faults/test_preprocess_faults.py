"""``python -m crossmoco preprocess DATASET RAW OUT`` on bad input, a read-only or full disk.

Each test: the command, then what holds after (exit code, the one ``error:`` line and the file it
names, what is on disk). A dataset folder ``OUT/<dataset>-<hash>/`` exists only complete.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crossmoco.datasets import preprocess as preprocess_module
from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.ntu import read_ntu_skeleton
from crossmoco.datasets.preprocess import preprocess_dataset
from crossmoco.datasets.ucla import read_ucla_json

from .conftest import cli, error_line, in_tmpfs, left_behind, synthetic_raw, unwritable_dir


def _datasets_in(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def test_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A file saved with a BOM (Windows editors) reads like the same file without it."""
    raw = synthetic_raw(tmp_path / "raw", n=1)
    (plain,) = raw.glob("*.skeleton")
    bom = tmp_path / "bom" / plain.name
    bom.parent.mkdir()
    bom.write_bytes(codecs.BOM_UTF8 + plain.read_bytes())
    assert (read_ntu_skeleton(bom).data == read_ntu_skeleton(plain).data).all()
    ucla = tmp_path / "a01_s01_e01_v01.json"
    ucla.write_bytes(codecs.BOM_UTF8 + json.dumps({"file_name": "a01_s01_e01_v01", "label": 1,
                                                   "skeletons": [[[0.1, 0.2, 0.3]] * 20] * 3}).encode())
    assert read_ucla_json(ucla).data.shape[1] == 3


def test_same_file_name_in_two_subfolders_stays_two_sources(tmp_path: Path) -> None:
    """``source`` is the path relative to RAW: two subfolders' files of one name stay distinct."""
    raw = tmp_path / "raw"
    synthetic_raw(raw / "day1", n=2, seed=1)
    synthetic_raw(raw / "day2", n=2, seed=2)
    out = preprocess_dataset("synthetic", raw, tmp_path / "out", PreprocessConfig(), workers=1)
    sources = pq.read_table(out / "shard-00000.parquet", columns=["source"]).column("source").to_pylist()
    assert len(sources) == 4 and len(set(sources)) == 4
    assert {s.split("/")[0] for s in sources} == {"day1", "day2"}


def test_files_the_reader_ignores_are_reported(tmp_path: Path, caplog) -> None:
    """``*.skeleton.txt`` (or other look-alikes) are listed in the manifest and logged, not dropped silently."""
    raw = synthetic_raw(tmp_path / "raw", n=3)
    odd = raw / "S001C001P009R001A001.skeleton.txt"
    odd.write_bytes(next(raw.glob("*.skeleton")).read_bytes())
    caplog.set_level("WARNING", logger="crossmoco.datasets")
    out = preprocess_dataset("synthetic", raw, tmp_path / "out", PreprocessConfig(), workers=1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["num_rows"] == 3
    assert [s["file"] for s in manifest["skipped"]] == [str(odd)]
    assert "S001C001P009R001A001.skeleton.txt" in caplog.text


def test_a_different_raw_folder_is_not_taken_for_the_dataset_already_there(tmp_path: Path) -> None:
    """Same dataset and config, other input: an error naming the folder, never the old result."""
    first = synthetic_raw(tmp_path / "raw1", n=3, seed=1)
    second = synthetic_raw(tmp_path / "raw2", n=5, seed=2)
    out = preprocess_dataset("synthetic", first, tmp_path / "out", PreprocessConfig(), workers=1)
    assert preprocess_dataset("synthetic", first, tmp_path / "out", PreprocessConfig(), workers=1) == out
    proc = cli("preprocess", "synthetic", second, tmp_path / "out")
    error_line(proc, out, second)
    assert json.loads((out / "manifest.json").read_text())["num_rows"] == 3, "the old dataset is untouched"


def test_every_file_quarantined_is_an_error_and_no_dataset(tmp_path: Path) -> None:
    """All input bad: non-zero exit, the error names RAW, no complete (empty) dataset is left to reuse."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        (raw / f"S001C001P00{i + 1}R001A001.skeleton").write_text("3\n1\nnot a body line\n")
    out = tmp_path / "out"
    for _ in range(2):  # and again: nothing was kept that a second run could reuse
        error_line(cli("preprocess", "synthetic", raw, out), raw)
        assert _datasets_in(out) == []


def test_read_only_output_folder_is_one_line(tmp_path: Path) -> None:
    """OUT not writable: one line naming it, exit non-zero, no traceback."""
    raw = synthetic_raw(tmp_path / "raw", n=2)
    locked = tmp_path / "locked"
    proc = cli("preprocess", "synthetic", raw, locked / "out", prefix=unwritable_dir(locked))
    error_line(proc, locked / "out")


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """OUT on a 64 KiB tmpfs (the shards need ~240 KiB): one line naming the folder, nothing left there."""
    raw = synthetic_raw(tmp_path / "raw", n=8)
    disk = tmp_path / "disk"
    proc = cli("preprocess", "synthetic", raw, disk / "out", prefix=in_tmpfs(disk, "size=64k"))
    line = error_line(proc, disk / "out")
    assert "No space left on device" in line
    assert left_behind(proc) in ([], ["./out"]), "no half-written dataset folder"


def test_disk_full_midway_leaves_no_dataset_folder(tmp_path: Path, monkeypatch) -> None:
    """ENOSPC on the second shard (simulated): the error names the shard; no ``synthetic-<hash>/``."""
    raw = synthetic_raw(tmp_path / "raw", n=5)
    real_write, calls = preprocess_module.write_shard, []

    def full_disk(path, table):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(path, table)

    monkeypatch.setattr(preprocess_module, "write_shard", full_disk)
    with pytest.raises(OSError, match="No space left on device") as info:
        preprocess_dataset("synthetic", raw, tmp_path / "out", PreprocessConfig(shard_rows=2), workers=1)
    assert info.value.filename and "shard-00001.parquet" in info.value.filename
    assert _datasets_in(tmp_path / "out") == []
