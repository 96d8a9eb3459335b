"""Nothing is read from outside a dataset, and a shard that cannot train is refused before any work.

* A manifest's shard entry that is an absolute path, holds ``..`` or a sub-folder, or is a symbolic
  link out of the dataset folder: one error naming the manifest, raised before the file is opened,
  hashed or even looked for (the message is the same whether it exists or not).
* A symbolic link in a raw input folder that leads outside it: ``preprocess`` refuses it, one line
  naming the link, nothing written.
* Shard checks in the driver (``check_shards``): a non-finite value, labels that are not integers
  (strings), a shard's shape metadata that disagrees with the manifest's, a manifest shape that is
  not the dataset's joints: one error naming the shard or manifest, before Ray or MLflow start.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crossmoco.datasets.manifest
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import DataError, load_dataset

from .conftest import error_line, invoke, synthetic_raw

CFG = load_config("smoke", ["data.dataset=synthetic", "data.split=xsub"])


def _copy(tiny_shards: Path, tmp_path: Path) -> tuple[Path, dict]:
    folder = tmp_path / "shards"
    shutil.copytree(tiny_shards, folder)
    return folder, json.loads((folder / "manifest.json").read_text())


def _save(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("outside", ["absolute", "dotdot", "passwd", "subfolder", "symlink"])
def test_a_manifest_cannot_point_outside_its_folder(tiny_shards: Path, tmp_path: Path, monkeypatch, outside) -> None:
    folder, manifest = _copy(tiny_shards, tmp_path)
    first = folder / manifest["shards"][0]["file"]
    elsewhere = tmp_path / "elsewhere" / first.name
    elsewhere.parent.mkdir()
    shutil.copy(first, elsewhere)  # the same bytes, so a matching SHA-256 would pass
    name = {"absolute": str(elsewhere), "dotdot": f"../elsewhere/{first.name}", "passwd": "../../../../etc/passwd",
            "subfolder": f"sub/{first.name}", "symlink": first.name}[outside]
    if outside == "symlink":
        first.unlink()
        first.symlink_to(elsewhere)
    manifest["shards"][0]["file"] = name
    _save(folder, manifest)
    hashed: list[Path] = []
    monkeypatch.setattr(crossmoco.datasets.manifest, "sha256_file", lambda p: hashed.append(p) or "0" * 64)
    with pytest.raises(DataError, match="manifest.json") as e:
        load_dataset(folder, CFG)
    assert not hashed, "nothing is hashed before every entry is confined"
    assert "No such file" not in str(e.value) and "missing" not in str(e.value)


def test_a_symlink_out_of_the_raw_folder_is_refused(tmp_path: Path, no_ray) -> None:
    raw = synthetic_raw(tmp_path / "raw", n=3)
    victim = sorted(raw.glob("*.skeleton"))[0]
    outside = tmp_path / "outside" / victim.name
    outside.parent.mkdir()
    victim.rename(outside)
    victim.symlink_to(outside)
    proc = invoke("preprocess", "synthetic", raw, tmp_path / "out", "--workers", "1", "--no-ray")
    assert "symbolic link" in error_line(proc, victim)
    assert not list((tmp_path / "out").glob("*/manifest.json"))


def _rewrite(folder: Path, manifest: dict, change) -> Path:
    """Replace the first shard by ``change(table)``, keeping the manifest's rows and SHA-256 right."""
    entry = manifest["shards"][0]
    path = folder / entry["file"]
    table = change(pq.read_table(path))
    pq.write_table(table, path)
    entry.update(rows=table.num_rows, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    _save(folder, manifest)
    return path


def _nan_in_row_1(t: pa.Table) -> pa.Table:
    data = t.column("data").to_pylist()
    values = np.frombuffer(data[1], np.float32).copy()
    values[7] = np.inf
    data[1] = values.tobytes()
    return t.set_column(t.schema.get_field_index("data"), t.schema.field("data"), pa.array(data, pa.binary()))


def _string_labels(t: pa.Table) -> pa.Table:
    labels = pa.array([str(v) for v in t.column("label").to_pylist()], pa.string())
    return t.set_column(t.schema.get_field_index("label"), "label", labels)


def _shape_meta(t: pa.Table) -> pa.Table:
    meta = dict(t.schema.metadata)
    meta[b"crossmoco.shape"] = json.dumps([3, 25, 50, 2]).encode()  # T and V swapped
    return t.replace_schema_metadata(meta)


@pytest.mark.parametrize(("change", "says"), [(_nan_in_row_1, "row 1: NaN or infinite"),
                                              (_string_labels, "label column holds string"),
                                              (_shape_meta, "shape metadata [3, 25, 50, 2]")])
def test_a_shard_that_cannot_train_is_refused_naming_it(tiny_shards: Path, tmp_path: Path, change, says) -> None:
    folder, manifest = _copy(tiny_shards, tmp_path)
    shard = _rewrite(folder, manifest, change)
    with pytest.raises(DataError, match=f"^{shard}: .*{says.replace('[', '.').replace(']', '.')}"):
        load_dataset(folder, CFG)


def test_a_manifest_shape_of_other_joints_is_refused(tiny_shards: Path, tmp_path: Path) -> None:
    folder, manifest = _copy(tiny_shards, tmp_path)
    manifest["shape"][2] = 20
    _save(folder, manifest)
    with pytest.raises(DataError, match="manifest.json: shape"):
        load_dataset(folder, CFG)


def test_a_string_label_shard_is_one_line_from_the_cli(tiny_shards: Path, tmp_path: Path, no_ray) -> None:
    folder, manifest = _copy(tiny_shards, tmp_path)
    shard = _rewrite(folder, manifest, _string_labels)
    error_line(invoke("chain", folder, "--profile", "smoke", "--set", "data.dataset=synthetic", "--run-dir",
                      tmp_path / "runs"), shard)
    assert not (tmp_path / "runs" / "mlflow.db").exists()
