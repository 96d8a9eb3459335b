"""A dataset is opened and its shards verified once per process, then handed on: the CLI, the
chain, the in-process pretraining worker and every evaluation stage share one verification, and a
Ray worker trusts the stamp of the files the driver verified."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

import crossmoco.datasets.manifest
import crossmoco.pipeline.data
from crossmoco.pipeline.chain import run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import DataError, load_dataset


@pytest.fixture
def hashes(monkeypatch) -> Counter:
    """How many times each shard file's SHA-256 is computed from here on."""
    counted: Counter = Counter()
    real = crossmoco.datasets.manifest.sha256_file

    def counting(path):
        counted[Path(path).name] += 1
        return real(path)

    monkeypatch.setattr(crossmoco.datasets.manifest, "sha256_file", counting)
    return counted


def _fresh_copy(src: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy no earlier test of this process opened, and its shard file names."""
    dst = tmp_path / "shards"
    shutil.copytree(src, dst)
    return dst, [s["file"] for s in json.loads((dst / "manifest.json").read_text())["shards"]]


def test_a_chain_verifies_each_shard_once_per_process(synthetic_shards, tmp_path, smoke_overrides, hashes):
    shards, files = _fresh_copy(synthetic_shards, tmp_path)
    cfg = load_config("smoke", [*smoke_overrides, "resources.num_workers=0"])
    data = load_dataset(shards, cfg)  # the CLI's check before the chain
    run_chain(data, cfg, run_dir=tmp_path / "run", experiment="once")  # pretraining, linear and kNN stages
    run_chain(shards, cfg, run_dir=tmp_path / "run", experiment="once")  # the same chain again, by path
    assert len(files) >= 1
    assert hashes == Counter({f: 1 for f in files})


def test_a_worker_trusts_the_drivers_stamp_only_while_the_files_keep_it(synthetic_shards, tmp_path, monkeypatch,
                                                                         hashes):
    shards, files = _fresh_copy(synthetic_shards, tmp_path)
    cfg = load_config("smoke", [])
    stamp = load_dataset(shards, cfg).stamp
    assert hashes == Counter({f: 1 for f in files})
    monkeypatch.setattr(crossmoco.pipeline.data, "_OPENED", {})  # a worker process: nothing opened yet
    assert load_dataset(shards, cfg, verified=stamp).stamp == stamp
    assert hashes == Counter({f: 1 for f in files}), "the worker did not hash the shards again"

    monkeypatch.setattr(crossmoco.pipeline.data, "_OPENED", {})
    shard = shards / files[0]
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")  # changed after the driver verified it
    os.utime(shard, ns=(1, 1))
    with pytest.raises(DataError, match="SHA-256"):
        load_dataset(shards, cfg, verified=stamp)


def test_a_shard_changed_after_opening_is_verified_again(synthetic_shards, tmp_path, hashes):
    shards, files = _fresh_copy(synthetic_shards, tmp_path)
    cfg = load_config("smoke", [])
    load_dataset(shards, cfg)
    shard = shards / files[0]
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    os.utime(shard, ns=(1, 1))
    with pytest.raises(DataError, match="SHA-256"):
        load_dataset(shards, cfg)
