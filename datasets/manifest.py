"""``manifest.json`` of a shard directory: what was written, from what, and how to check it.

Keys: ``schema_version``, ``dataset``, ``config`` (the PreprocessConfig as a dict) and
``config_hash``, ``shape``/``dtype``/``layout``, ``num_classes``, ``splits`` (names),
``counts[split][subset]`` (``total`` and ``per_class``), ``shards`` (file, rows, sha256),
``skipped`` (file, reason: not part of the dataset or on a missing-skeleton list) and
``quarantined`` (file, line, reason: bad input). It is written last, so a directory with a manifest
is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

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
    tmp = path.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, path)
    return path


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
