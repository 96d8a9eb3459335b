"""Preprocessing on Ray writes the same bytes as the process pool: shards, manifest, quarantine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.preprocess import preprocess_dataset
from crossmoco.pipeline.preprocess_ray import ray_mapper

pytestmark = pytest.mark.ray


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ray_tasks_write_the_process_pools_shards_and_manifest_byte_for_byte(ray_session, synthetic_shards, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_shards.parents[1] / "raw", raw)
    broken = sorted(raw.rglob("*.skeleton"))[3]
    broken.write_text(broken.read_text()[:200])  # cut mid-frame: quarantined by both paths
    cfg = PreprocessConfig(shard_rows=64)  # several shards, so their order matters
    pool = preprocess_dataset("synthetic", raw, tmp_path / "pool", cfg, workers=2)
    on_ray = preprocess_dataset("synthetic", raw, tmp_path / "ray", cfg, mapper=ray_mapper(batch_files=7))
    assert pool.name == on_ray.name
    a, b = _files(pool), _files(on_ray)
    assert len([n for n in a if n.endswith(".parquet")]) > 2
    quarantined = json.loads(a["manifest.json"])["quarantined"]
    assert [Path(q["file"]).name for q in quarantined] == [broken.name]
    assert a.keys() == b.keys()
    assert [n for n in a if a[n] != b[n]] == []
