"""Loading shards: the Dataset, whole-split arrays, verification, the mmap cache, Arrow -> tensor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.loader import load_split_arrays, open_split, table_to_arrays
from crossmoco.datasets.preprocess import preprocess_dataset

from .conftest import one_body_frames, person, write_ntu


@pytest.fixture
def shard_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(7):
        write_ntu(tmp_path / "raw" / f"S001C00{1 + i % 2}P00{1 + i % 3}R001A00{1 + i}.skeleton",
                  one_body_frames(person(rng, 8 + i)))  # fmt: skip
    return preprocess_dataset(
        "synthetic", tmp_path / "raw", tmp_path / "out", PreprocessConfig(shard_rows=3), workers=1
    )


def test_dataset_items_and_labels(shard_dir: Path) -> None:
    train, test = open_split(shard_dir, "xview", "train"), open_split(shard_dir, "xview", "test")
    assert (len(train), len(test)) == (3, 4) and train.num_classes == 15
    x, y = train[0]
    assert x.shape == (3, 50, 25, 2) and x.dtype == torch.float32 and x.is_contiguous()
    assert y == int(train.labels[0]) and sorted(train.labels) == [1, 3, 5]
    x.add_(1)  # items are writable copies: the shard buffer is untouched
    assert not torch.equal(train[0][0], x)
    batch = next(iter(torch.utils.data.DataLoader(test, batch_size=4)))
    assert batch[0].shape == (4, 3, 50, 25, 2)


def test_whole_split_arrays(shard_dir: Path) -> None:
    x, y = load_split_arrays(shard_dir, "xsub", "train")
    assert x.shape == (len(y), 3, 50, 25, 2) and x.dtype == np.float32 and y.dtype == np.int64


def test_decoded_rows_are_the_stored_samples(shard_dir: Path) -> None:
    table = pq.read_table(shard_dir / "shard-00000.parquet")
    chunks, y = table_to_arrays(table)
    x = np.concatenate(chunks)
    assert x.shape == (3, 3, 50, 25, 2) and y.tolist() == table.column("label").to_pylist()
    np.testing.assert_array_equal(x[1].tobytes(), table.column("data")[1].as_py())


def test_changed_shard_or_schema_version_is_a_clear_error(shard_dir: Path) -> None:
    shard = shard_dir / "shard-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DatasetFormatError, match="shard-00001.parquet: SHA-256"):
        open_split(shard_dir, "xsub", "train")
    manifest = json.loads((shard_dir / "manifest.json").read_text())
    (shard_dir / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 99}))
    with pytest.raises(DatasetFormatError, match="schema version 99"):
        open_split(shard_dir, "xsub", "train", verify=False)


def test_unknown_split_or_subset(shard_dir: Path) -> None:
    with pytest.raises(ValueError, match="no split 'xset'"):
        open_split(shard_dir, "xset")
    with pytest.raises(ValueError, match="subset"):
        open_split(shard_dir, "xsub", "val")


def test_data_modules_import_without_ray_mlflow_or_pipeline() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules.update(ray=None, mlflow=None, pipeline=None)\n"
            "import datasets.ntu, datasets.pku, datasets.ucla, datasets.preprocess, datasets.loader")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
