"""Shards -> tensors: a torch Dataset over one split, and the Arrow -> array conversion for workers.

Opening a shard directory reads and verifies its manifest (schema version, every shard's
SHA-256). The ``data`` column decodes into NumPy views of Arrow's buffers (no per-row Python
objects, no copy); ``__getitem__`` copies one sample into a writable tensor (augmentations work
in place, and a batch is a copy anyway).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.manifest import read_manifest, shard_file
from crossmoco.datasets.shards import decode_tensors, tensor_shape

SUBSETS = ("train", "test")


def table_to_arrays(table: pa.Table | pa.RecordBatch) -> tuple[list[np.ndarray], np.ndarray]:
    """The Arrow -> array conversion: ``data`` as read-only float32 views (one per chunk), labels.

    Shape:
        table: N rows -> [(n_i, C, T, V, M)] with sum n_i = N, labels (N,) int64
    """
    shape = tensor_shape(table.schema)
    column = table.column("data")
    labels = table.column("label").to_numpy().astype(np.int64)
    return decode_tensors(column, shape), labels


class SkeletonSplit(Dataset):
    """The train or test side of one split of a shard directory, yielding (x (C, T, V, M), label)."""

    def __init__(self, chunks: list[np.ndarray], where: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
        self._chunks = chunks  # read-only views of Arrow buffers, (n_i, C, T, V, M)
        self._where = where  # (N, 2): chunk index, row in chunk
        self.labels = labels
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        c, r = self._where[i]
        return torch.from_numpy(np.array(self._chunks[c][r])), int(self.labels[i])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole side as one (N, C, T, V, M) array (a view when it is one contiguous run)."""
        if len(self._chunks) == 1 and np.array_equal(self._where[:, 1], np.arange(len(self))):
            return self._chunks[0][: len(self)], self.labels
        parts = [chunk[self._where[self._where[:, 0] == c, 1]] for c, chunk in enumerate(self._chunks)]
        return np.concatenate(parts), self.labels  # rows stay in shard order, as self._where


def open_split(
    shard_dir: Path, split: str, subset: str = "train", *, verify: bool = True
) -> SkeletonSplit:
    """The ``subset`` ("train" or "test") of ``split`` (e.g. "xsub") of a preprocessed dataset."""
    manifest = read_manifest(Path(shard_dir), verify=verify)
    if split not in manifest["splits"]:
        raise ValueError(f"{shard_dir}: no split {split!r}; this dataset has {manifest['splits']}")
    if subset not in SUBSETS:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    columns = ["data", "label", f"split_{split}"]
    table = _parquet_table(Path(shard_dir), manifest, columns)
    chunks, labels = table_to_arrays(table.select(["data", "label"]))
    side = table.column(f"split_{split}")
    keep: np.ndarray | list[bool] = (
        np.concatenate([c.to_numpy(zero_copy_only=False) == subset for c in side.chunks]) if len(table) else []
    )
    where = np.concatenate(
        [np.stack([np.full(len(x), c), np.arange(len(x))], 1) for c, x in enumerate(chunks)]
        or [np.zeros((0, 2), np.int64)]
    )
    return SkeletonSplit(chunks, where[keep], labels[keep], manifest["num_classes"])


def load_split_arrays(shard_dir: Path, split: str, subset: str = "train", **kw) -> tuple[np.ndarray, np.ndarray]:
    """A whole side of a split in memory: (N, C, T, V, M) float32 (read-only view or a copy), labels int64."""
    return open_split(shard_dir, split, subset, **kw).arrays()


def split_column(shard_dir: Path, split: str, subset: str, column: str) -> np.ndarray:
    """One metadata column (e.g. ``performer``) of the rows ``open_split(...).arrays()`` returns, same order."""
    manifest = read_manifest(Path(shard_dir), verify=False)
    table = _parquet_table(Path(shard_dir), manifest, [column, f"split_{split}"])
    keep = table.column(f"split_{split}").to_numpy(zero_copy_only=False) == subset
    return table.column(column).to_numpy(zero_copy_only=False)[keep]


def _parquet_table(shard_dir: Path, manifest: dict, columns: list[str]) -> pa.Table:
    tables = [pq.read_table(shard_file(shard_dir, s), columns=columns) for s in manifest["shards"]]
    for t, s in zip(tables, manifest["shards"], strict=True):
        if t.num_rows != s["rows"]:
            raise DatasetFormatError(shard_file(shard_dir, s), None, f"{t.num_rows} rows, manifest says {s['rows']}")
    return pa.concat_tables(tables)
