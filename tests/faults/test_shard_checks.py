"""A dataset folder whose shards disagree with their manifest is refused in the driver, before any work.

Command: ``python -m crossmoco chain DATA_DIR ...`` (and every command that opens a dataset).
Holds after: exit non-zero, one ``error:`` line naming the shard (or manifest) file, Ray never
started, no run folder; checked: each shard's rows, ``num_rows``, ``counts`` and every label against
``num_classes``, besides the schema version and each shard's SHA-256.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossmoco.datasets.shards import sha256_file
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import DataError, load_dataset

from .conftest import error_line, invoke

SYNTH = ["data.dataset=synthetic", "data.split=xsub"]


@pytest.fixture
def shards(synthetic_shards: Path, tmp_path: Path) -> Path:
    """A private copy of the session's synthetic dataset, free to corrupt."""
    return Path(shutil.copytree(synthetic_shards, tmp_path / synthetic_shards.name))


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _relabel(folder: Path, row: int, label: int) -> Path:
    """Rewrite shard 0 with one label changed, and its SHA-256 in the manifest (a consistent but wrong shard)."""
    shard = folder / "shard-00000.parquet"
    table = pq.read_table(shard)
    labels = table.column("label").to_pylist()
    labels[row] = label
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels, pa.int32()))
    pq.write_table(table, shard, compression="none")
    _edit_manifest(folder, lambda m: m["shards"][0].update(sha256=sha256_file(shard)))
    return shard


def _move_one(per_class: list[int]) -> None:
    per_class[0], per_class[1] = per_class[0] - 1, per_class[1] + 1  # same total, other classes


CORRUPTIONS = {  # name: (edit of the manifest, file the error names, words of the reason)
    "shard_rows": (lambda m: m["shards"][0].update(rows=m["shards"][0]["rows"] + 1), "shard-00000.parquet", "rows"),
    "num_rows": (lambda m: m.update(num_rows=m["num_rows"] - 1), "manifest.json", "num_rows"),
    "counts_total": (lambda m: m["counts"]["xsub"]["train"].update(total=1), "manifest.json", "counts"),
    "counts_per_class": (lambda m: _move_one(m["counts"]["xview"]["test"]["per_class"]), "manifest.json", "counts"),
    "num_classes": (lambda m: m.update(num_classes=3), "shard-00000.parquet", "num_classes"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_manifest_edits_are_caught_before_any_work(shards: Path, case: str) -> None:
    edit, named, reason = CORRUPTIONS[case]
    _edit_manifest(shards, edit)
    with pytest.raises(DataError, match=reason) as info:
        load_dataset(shards, load_config("smoke", SYNTH))
    assert named in str(info.value)


def test_a_label_outside_num_classes_is_caught_before_any_work(shards: Path) -> None:
    shard = _relabel(shards, row=3, label=15)  # the synthetic dataset has 15 classes: 0-14
    with pytest.raises(DataError, match="label 15") as info:
        load_dataset(shards, load_config("smoke", SYNTH))
    assert str(shard) in str(info.value) and "row 3" in str(info.value)


def test_chain_on_a_bad_shard_is_one_line_before_ray(shards: Path, tmp_path: Path, no_ray) -> None:
    _relabel(shards, row=0, label=99)
    proc = invoke("chain", shards, "--profile", "smoke", "--run-dir", tmp_path / "runs",
                  *(a for o in SYNTH for a in ("--set", o)))  # fmt: skip
    error_line(proc, shards / "shard-00000.parquet", "label 99")
    assert not (tmp_path / "runs").exists(), "nothing was created for the run"
