"""A dataset preprocessed onto shared storage (moto's S3 server on 127.0.0.1): the same bytes as a
local OUT_DIR, nothing a run would open before the upload is complete, and one verified local
copy for every verb."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pyarrow.fs
import pytest
from typer.testing import CliRunner

from crossmoco.cli import app
from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.preprocess import preprocess_dataset
from crossmoco.pipeline import data as data_mod
from crossmoco.pipeline import storage as shared
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import DataError, load_dataset, local_copy

SHARD_ROWS = ["--set", "preprocess.shard_rows=128"]  # several shards, so their upload order matters


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _objects(location: str) -> dict[str, bytes]:
    """Every object under ``location`` (names relative to it) and its bytes."""
    fs, root = shared.filesystem(location)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True))
    out = {}
    for info in infos:
        if info.type == pyarrow.fs.FileType.File:
            with fs.open_input_stream(info.path) as f:
                out[info.path.removeprefix(root + "/")] = f.read()
    return out


def _cli(*args: object):
    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def _error_line(res, location: str) -> str:
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert res.exit_code != 0 and len(errors) == 1, res.output
    assert location in errors[0], errors[0]
    return errors[0]


def test_preprocess_to_s3_writes_the_local_bytes_and_runs_read_one_verified_copy(synthetic_raw_dir, s3_bucket,
                                                                                  tmp_path, monkeypatch):
    local = preprocess_dataset("synthetic", synthetic_raw_dir, tmp_path / "local", PreprocessConfig(shard_rows=128),
                               workers=1)
    out = shared.join(s3_bucket, "shards")
    res = _cli("preprocess", "synthetic", synthetic_raw_dir, out, *SHARD_ROWS, "-j", 1)
    assert res.exit_code == 0, res.output
    target = res.output.strip().splitlines()[-1]
    assert target == shared.join(out, local.name)
    files = _files(local)
    assert len([n for n in files if n.endswith(".parquet")]) > 2
    assert _objects(out) == {f"{local.name}/{n}": b for n, b in files.items()}, "the same names and bytes, nothing else"

    cfg = load_config("smoke")
    cache = tmp_path / "run" / "data"
    data = load_dataset(out, cfg, cache=cache)  # what every verb calls, here with preprocess's OUT as a URI
    assert data.source == target and data.root.parent == cache and data.root.name.startswith(local.name)
    assert _files(data.root) == files
    assert sorted(p.name for p in cache.iterdir()) == [data.root.name], "no temporary folder left"
    x, y = data.arrays("train")
    lx, ly = load_dataset(local, cfg).arrays("train")
    np.testing.assert_array_equal(x, lx)
    np.testing.assert_array_equal(y, ly)

    def no_download(*a, **k):
        raise AssertionError("copied again")

    monkeypatch.setattr(pyarrow.fs, "copy_files", no_download)
    data_mod._OPENED.clear()  # a new process, as the next run is
    assert load_dataset(target, cfg, cache=cache).root == data.root, "the next run reuses the copy"
    monkeypatch.undo()
    # A Ray Train worker on a node without the driver's copy makes its own at the same path (train_ray._worker).
    shutil.rmtree(data.root)
    assert local_copy(data.source, data.root.parent) == data.root and _files(data.root) == files

    # Verified like a local folder: a shard changed on storage behind its manifest is caught.
    fs, path = shared.filesystem(shared.join(target, "shard-00001.parquet"))
    with fs.open_output_stream(path) as f:
        f.write(files["shard-00000.parquet"])
    with pytest.raises(DataError, match=r"shard-00001\.parquet: SHA-256 differs"):
        load_dataset(out, cfg, cache=tmp_path / "other-run" / "data")

    # The same config and input again: nothing to do, nothing uploaded.
    monkeypatch.setattr(pyarrow.fs, "copy_files", no_download)
    again = _cli("preprocess", "synthetic", synthetic_raw_dir, out, *SHARD_ROWS, "-j", 1)
    assert again.exit_code == 0 and again.output.strip().splitlines()[-1] == target, again.output


def test_an_upload_stopped_before_its_manifest_leaves_nothing_a_run_opens(synthetic_raw_dir, s3_bucket, tmp_path,
                                                                          monkeypatch):
    out = shared.join(s3_bucket, "shards")
    real = pyarrow.fs.copy_files

    def disk_full_at_the_manifest(source, dest, **kw):
        if Path(source).name == "manifest.json":
            raise OSError(28, "No space left on device")
        return real(source, dest, **kw)

    monkeypatch.setattr(pyarrow.fs, "copy_files", disk_full_at_the_manifest)
    res = _cli("preprocess", "synthetic", synthetic_raw_dir, out, *SHARD_ROWS, "-j", 1)
    assert "upload failed (" in _error_line(res, out.partition("?")[0] + "/synthetic-")
    left = _objects(out)
    assert left and all(n.endswith(".parquet") for n in left), "the shards went first; no manifest"
    with pytest.raises(DataError, match="no synthetic dataset in s3://"):
        load_dataset(out, load_config("smoke"), cache=tmp_path / "data")
    monkeypatch.undo()
    res = _cli("preprocess", "synthetic", synthetic_raw_dir, out, *SHARD_ROWS, "-j", 1)
    assert res.exit_code == 0, res.output
    assert any(n.endswith("/manifest.json") for n in _objects(out))


def test_an_empty_unreachable_or_missing_location_is_one_error_line_naming_it(synthetic_raw_dir, s3_bucket, s3_server,
                                                                               tmp_path):
    empty = shared.join(s3_bucket, "nothing-here")
    runs = tmp_path / "runs"
    for argv in (["chain", empty], ["pretrain", empty],
                 ["grid", "--over", "contrastive.num_banks=1,2", "--data", empty]):
        line = _error_line(_cli(*argv, "--run-dir", runs), empty)
        assert "no synthetic dataset" in line, line
    with socket.socket() as s:  # a port nothing listens on: pyarrow's retries give up after a few seconds
        s.bind(("127.0.0.1", 0))
        down = f"s3://crossmoco-x/shards?endpoint_override=127.0.0.1:{s.getsockname()[1]}&scheme=http&region=us-east-1"
    assert "cannot read it" in _error_line(_cli("chain", down, "--run-dir", runs), down)
    nowhere = s3_server.uri("no-such-bucket", "shards")
    line = _error_line(_cli("preprocess", "synthetic", synthetic_raw_dir, nowhere), nowhere)
    assert "cannot write there" in line and "no-such-bucket" in line, line
