"""``manifest.json`` of a shard directory: what was written, from what, and how to check it.

Keys: ``schema_version``, ``dataset``, ``config`` (the PreprocessConfig as a dict) and
``config_hash``, ``shape``/``dtype``/``layout``, ``num_classes``, ``splits`` (names),
``counts[split][subset]`` (``total`` and ``per_class``), ``shards`` (file, rows, sha256),
``skipped`` (file, reason: not part of the dataset or on a missing-skeleton list) and
``quarantined`` (file, line, reason: bad input). It is written last, so a directory with a manifest
is complete. ``check_shards`` holds the shards to it (rows, ``num_rows``, ``counts``, every label
in ``0..num_classes-1``), reading only the small columns: a run checks it in the driver, before
any work, instead of failing inside a worker or after a whole pretraining.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from datasets.atomic import write_text_atomic
from datasets.config import PreprocessConfig
from datasets.errors import DatasetFormatError
from datasets.shards import SCHEMA_VERSION, sha256_file

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
    if verify:
        for shard in manifest["shards"]:
            file = Path(shard_dir) / shard["file"]
            if not file.is_file():
                raise DatasetFormatError(file, None, "shard listed in the manifest is missing")
            if sha256_file(file) != shard["sha256"]:
                raise DatasetFormatError(file, None, "SHA-256 differs from the manifest: the shard changed")
    return manifest


def check_shards(shard_dir: Path, manifest: dict) -> None:
    """Raise a DatasetFormatError naming the shard (or the manifest) unless the shards hold what
    the manifest says: each shard's rows, ``num_rows``, every label below ``num_classes``, and the
    ``counts`` of every split, side and class."""
    path, num_classes = Path(shard_dir) / MANIFEST, int(manifest["num_classes"])
    splits = list(manifest.get("counts") or {})
    labels: list[np.ndarray] = []
    sides: dict[str, list[str]] = {s: [] for s in splits}
    for shard in manifest["shards"]:
        file = Path(shard_dir) / shard["file"]
        table = pq.read_table(file, columns=["label", *(f"split_{s}" for s in splits)])
        if table.num_rows != shard["rows"]:
            raise DatasetFormatError(file, None, f"{table.num_rows} rows, the manifest says {shard['rows']}")
        y = table.column("label").to_numpy()
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
