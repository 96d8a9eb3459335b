"""Parquet shards: one row per sample, the (C, T, V, M) float32 tensor as raw bytes.

Layout (chosen by bench/bench_io.py and ``../shared/notes/ray-mlflow.md`` §1b: a ``binary``
column decodes zero-copy and 2-3x faster than a fixed-size float list, because Parquet stores a
BYTE_ARRAY as one memcpy instead of decoding levels for each of the 7,500 floats):

    data         binary   C*T*V*M float32, C order, native little-endian
    label        int32    0-based class
    split_<name> string   "train" or "test" under each split the dataset has
    setup, camera, performer, replication  int32 (0 where the dataset has none)
    source       string   file the sample came from
    num_frames   int32    original frame count; num_bodies int32 bodies the raw file reports

Shape, dtype and layout are recorded in the schema metadata. Files are uncompressed (§1b: codecs
cost read speed for ~15% of size) and written under a temporary name, then renamed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crossmoco.datasets.atomic import atomic_path
from crossmoco.datasets.sample import Sample
from crossmoco.datasets.skeleton import CANONICAL_LAYOUT

SCHEMA_VERSION = 1
ROW_GROUP_ROWS = 256  # row-group sharding unit for data larger than RAM
META_COLUMNS = ("setup", "camera", "performer", "replication", "num_frames", "num_bodies")


def shard_schema(splits: tuple[str, ...], shape: tuple[int, ...]) -> pa.Schema:
    fields = [pa.field("data", pa.binary(), nullable=False), pa.field("label", pa.int32())]
    fields += [pa.field(f"split_{s}", pa.string()) for s in splits]
    fields += [pa.field(c, pa.int32()) for c in META_COLUMNS] + [pa.field("source", pa.string())]
    meta = {"crossmoco.schema_version": str(SCHEMA_VERSION), "crossmoco.shape": json.dumps(list(shape)),
            "crossmoco.dtype": "float32", "crossmoco.layout": CANONICAL_LAYOUT}  # fmt: skip
    return pa.schema(fields, metadata=meta)


def rows_to_table(rows: list[tuple[Sample, dict[str, str]]], schema: pa.Schema) -> pa.Table:
    """Preprocessed samples (fixed shape) and their split membership -> one Arrow table."""
    cols: dict[str, list] = {name: [] for name in schema.names}
    for sample, splits in rows:
        cols["data"].append(np.ascontiguousarray(sample.data, np.float32).tobytes())
        cols["label"].append(sample.label)
        cols["source"].append(sample.source)
        for c in META_COLUMNS:
            cols[c].append(getattr(sample, c))
        for s, side in splits.items():
            cols[f"split_{s}"].append(side)
    return pa.table(cols, schema=schema)


def write_shard(path: Path, table: pa.Table) -> dict[str, object]:
    """Write a shard under a temporary name, rename it, return its manifest entry."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="none")
    return {"file": path.name, "rows": table.num_rows, "sha256": sha256_file(path)}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def tensor_shape(schema: pa.Schema) -> tuple[int, ...]:
    return tuple(json.loads(schema.metadata[b"crossmoco.shape"]))


def decode_tensors(column: pa.Array | pa.ChunkedArray, shape: tuple[int, ...]) -> list[np.ndarray]:
    """A ``data`` column -> one read-only (n_chunk, *shape) float32 view per chunk, no copy.

    Shape:
        column: (N,) binary of prod(shape) float32 each -> [(n_i, *shape)] with sum n_i = N
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return [_decode_chunk(c, shape) for c in chunks if len(c)]


def _decode_chunk(arr: pa.Array, shape: tuple[int, ...]) -> np.ndarray:
    row_bytes = 4 * int(np.prod(shape))
    offsets = np.frombuffer(arr.buffers()[1], np.int32, len(arr) + 1, offset=4 * arr.offset)
    if arr.null_count or not np.array_equal(np.diff(offsets), np.full(len(arr), row_bytes)):
        raise ValueError(f"data column rows are not {row_bytes} bytes each (shape {shape}, float32)")
    values = np.frombuffer(arr.buffers()[2], np.uint8, row_bytes * len(arr), offset=int(offsets[0]))
    return values.view(np.float32).reshape(len(arr), *shape)  # (n, C, T, V, M)
