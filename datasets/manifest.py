"""``manifest.json`` of a shard directory: what was written, from what, and how to check it.

Keys: ``schema_version``, ``dataset``, ``config`` (the PreprocessConfig as a dict) and
``config_hash``, ``shape``/``dtype``/``layout``, ``num_classes``, ``splits`` (names),
``counts[split][subset]`` (``total`` and ``per_class``), ``shards`` (file, rows, sha256),
``skipped`` (file, reason: not part of the dataset or on a missing-skeleton list) and
``quarantined`` (file, line, reason: bad input). It is written last, so a directory with a manifest
is complete. ``check_shards`` holds the shards to it (rows, ``num_rows``, ``counts``, integer labels
in ``0..num_classes-1``, each shard's shape and dtype metadata, every row's size and every value
finite): a run checks it in the driver, before any work, instead of failing inside a worker or after
a whole pretraining. Every error names the shard (or the manifest).

A manifest names its shards by plain file names in its own folder (``shard_file``): an absolute
path, a ``..`` or a symbolic link leading out of the folder is refused before anything is opened,
so a manifest can neither read nor probe a file outside its dataset.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crossmoco.datasets.atomic import write_text_atomic
from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.shards import SCHEMA_VERSION, decode_tensors, sha256_file

MANIFEST = "manifest.json"


def preprocess_hash(dataset: str, cfg: PreprocessConfig) -> str:
    """Hash of everything that changes the shards' content: dataset, config and schema version."""
    key = json.dumps({"dataset": dataset, "config": asdict(cfg), "schema": SCHEMA_VERSION}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()


def count_rows(labels: list[int], sides: dict[str, list[str]], num_classes: int) -> dict:
    """counts[split][subset] = {"total": n, "per_class": [n_0, ..., n_{K-1}]}."""
    counts: dict[str, dict[str, dict]] = {}
    for split, column in sides.items():
        counts[split] = {}
        for subset in ("train", "test"):
            per_class = [0] * num_classes
            for label, side in zip(labels, column, strict=True):
                per_class[label] += side == subset
            counts[split][subset] = {"total": sum(per_class), "per_class": per_class}
    return counts


def write_manifest(shard_dir: Path, manifest: dict) -> Path:
    path = shard_dir / MANIFEST
    return write_text_atomic(path, json.dumps(manifest, indent=1) + "\n")


def read_manifest(shard_dir: Path, *, verify: bool = True) -> dict:
    """Read a manifest; with ``verify``, check its schema version and every shard's SHA-256."""
    path = Path(shard_dir) / MANIFEST
    if not path.is_file():
        raise DatasetFormatError(path, None, "no manifest: not a preprocessed shard directory (or unfinished)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFormatError(path, getattr(e, "lineno", None), f"unreadable manifest: {e}") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise DatasetFormatError(path, None, f"schema version {manifest.get('schema_version')!r}, "
                                 f"this code reads {SCHEMA_VERSION}: preprocess again")  # fmt: skip
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(isinstance(e, dict) for e in shards):
        raise DatasetFormatError(path, None, "shards must be a list of {file, rows, sha256} entries")
    files = [shard_file(shard_dir, shard) for shard in shards]  # every name confined before any is opened
    if verify:
        for shard, file in zip(shards, files, strict=True):
            if not file.is_file():
                raise DatasetFormatError(file, None, "shard listed in the manifest is missing")
            if sha256_file(file) != shard["sha256"]:
                raise DatasetFormatError(file, None, "SHA-256 differs from the manifest: the shard changed")
    return manifest


def shard_file(shard_dir: Path, shard: dict) -> Path:
    """The path of a manifest's shard entry: a plain file name in ``shard_dir``. An absolute path,
    a ``..``, a sub-folder or a symbolic link out of the folder is an error naming the manifest,
    raised without opening, hashing or even looking for the file it names."""
    name, manifest = shard.get("file"), Path(shard_dir) / MANIFEST
    if not isinstance(name, str) or name in ("", ".", "..") or PurePosixPath(name).name != name or "\\" in name:
        raise DatasetFormatError(manifest, None, f"shard entry {name!r} is not a file name in the dataset folder "
                                 "(absolute paths, '..' and sub-folders are refused)")  # fmt: skip
    file = Path(shard_dir) / name
    if file.is_symlink() and file.resolve().parent != Path(shard_dir).resolve():
        raise DatasetFormatError(manifest, None, f"shard entry {name!r} is a symbolic link out of the dataset folder")
    return file


def check_shards(shard_dir: Path, manifest: dict) -> None:
    """Raise a DatasetFormatError naming the shard (or the manifest) unless the shards hold what
    the manifest says: each shard's rows, ``num_rows``, every label below ``num_classes``, and the
    ``counts`` of every split, side and class."""
    path, num_classes = Path(shard_dir) / MANIFEST, int(manifest["num_classes"])
    shape = manifest_shape(path, manifest)
    splits = list(manifest.get("counts") or {})
    labels: list[np.ndarray] = []
    sides: dict[str, list[str]] = {s: [] for s in splits}
    for shard in manifest["shards"]:
        file = shard_file(shard_dir, shard)
        try:
            table = pq.read_table(file, columns=["data", "label", *(f"split_{s}" for s in splits)])
        except (OSError, ValueError) as e:  # not Parquet, or a column missing (pyarrow: ArrowInvalid)
            raise DatasetFormatError(file, None, f"unreadable shard: {str(e).splitlines()[0]}") from None
        if table.num_rows != shard["rows"]:
            raise DatasetFormatError(file, None, f"{table.num_rows} rows, the manifest says {shard['rows']}")
        _check_tensors(file, table, shape)
        if not pa.types.is_integer(table.schema.field("label").type):
            raise DatasetFormatError(file, None, f"label column holds {table.schema.field('label').type}, "
                                     "expected integer class indices")  # fmt: skip
        y = table.column("label").to_numpy(zero_copy_only=False)
        bad = np.flatnonzero((y < 0) | (y >= num_classes))
        if len(bad):
            raise DatasetFormatError(file, None, f"row {bad[0]}: label {y[bad[0]]} outside 0-{num_classes - 1} "
                                     f"(the manifest's num_classes is {num_classes})")  # fmt: skip
        labels.append(y)
        for s in splits:
            sides[s] += table.column(f"split_{s}").to_pylist()
    total = sum(len(y) for y in labels)
    if total != manifest["num_rows"]:
        raise DatasetFormatError(path, None, f"num_rows is {manifest['num_rows']}, the shards hold {total} rows")
    counts = count_rows([int(v) for y in labels for v in y], sides, num_classes)
    for split, by_side in counts.items():
        for side, found in by_side.items():
            if manifest["counts"][split].get(side) != found:
                raise DatasetFormatError(path, None, f"counts[{split}][{side}] disagree with the shards "
                                         f"({found['total']} samples there)")  # fmt: skip


def manifest_shape(path: Path, manifest: dict) -> tuple[int, ...]:
    """The manifest's sample shape, (C, T, V, M) of positive ints, and dtype float32; an error naming it otherwise."""
    shape, dtype = manifest.get("shape"), manifest.get("dtype", "float32")
    if not (isinstance(shape, list) and len(shape) == 4
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise DatasetFormatError(path, None, f"shape {shape!r} is not a (C, T, V, M) list of positive integers")
    if dtype != "float32":
        raise DatasetFormatError(path, None, f"dtype {dtype!r}; the shards hold float32")
    return tuple(shape)


def _check_tensors(file: Path, table: pa.Table, shape: tuple[int, ...]) -> None:
    """A shard's shape and dtype metadata agree with the manifest's, each row holds one such
    float32 tensor, and every value is finite."""
    meta = table.schema.metadata or {}
    try:
        own = tuple(json.loads(meta[b"crossmoco.shape"]))
    except (KeyError, ValueError, TypeError):
        raise DatasetFormatError(file, None, "no readable crossmoco.shape in the schema metadata") from None
    if own != shape or meta.get(b"crossmoco.dtype", b"float32") != b"float32":
        raise DatasetFormatError(file, None, f"shape metadata {list(own)} "
                                 f"({meta.get(b'crossmoco.dtype', b'?').decode(errors='replace')}), "
                                 f"the manifest says {list(shape)} (float32)")  # fmt: skip
    if not pa.types.is_binary(table.schema.field("data").type):
        raise DatasetFormatError(file, None, f"data column holds {table.schema.field('data').type}, expected binary")
    try:
        chunks = decode_tensors(table.column("data"), shape)
    except ValueError as e:
        raise DatasetFormatError(file, None, str(e)) from None
    row = 0
    for chunk in chunks:  # (n, C, T, V, M)
        finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
        if not finite.all():
            raise DatasetFormatError(file, None, f"row {row + int(np.argmin(finite))}: NaN or infinite values")
        row += len(chunk)
