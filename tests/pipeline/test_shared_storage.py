"""Shared storage for Ray Train: checkpoints on an S3 API (moto's server on 127.0.0.1), written and
read only through Ray's Checkpoint API and pyarrow; a restarted worker group resumes from the
shared copy, and a driver without the local copy fetches it from there."""

from __future__ import annotations

import shutil

import pyarrow.fs
import pytest
from fault_injection import CrashOnce
from mlflow.tracking import MlflowClient

from crossmoco.pipeline import storage as shared
from crossmoco.pipeline import train_ray
from crossmoco.pipeline.chain import ChainPlan, run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.training import metrics as M
from crossmoco.training.checkpoints import read_state


def test_join_keeps_pyarrows_options_and_local_paths_become_absolute(tmp_path, monkeypatch):
    uri = "s3://b/p?endpoint_override=127.0.0.1:9&scheme=http"
    assert shared.join(uri, "ray", "/run/") == "s3://b/p/ray/run?endpoint_override=127.0.0.1:9&scheme=http"
    monkeypatch.chdir(tmp_path)
    assert shared.resolve("runs") == str(tmp_path / "runs")
    monkeypatch.setenv(shared.STORAGE_ENV, uri)
    assert shared.default_storage(tmp_path, "tune") == "s3://b/p/tune?endpoint_override=127.0.0.1:9&scheme=http"
    monkeypatch.delenv(shared.STORAGE_ENV)
    assert shared.default_storage(tmp_path, "tune") == str(tmp_path / "tune")


def test_fetch_copies_a_folder_from_s3_complete_and_only_once(s3_bucket, tmp_path):
    fs, root = shared.filesystem(s3_bucket)
    with fs.open_output_stream(f"{root}/run/checkpoint_1/state.pt") as f:
        f.write(b"weights")
    with fs.open_output_stream(f"{root}/run/checkpoint_1/sub/metrics.json") as f:
        f.write(b"[]")
    location = shared.location_under(s3_bucket, f"{root}/run/checkpoint_1")
    assert location == shared.join(s3_bucket, "run/checkpoint_1")
    assert shared.is_file(shared.join(location, "state.pt")) and not shared.exists(shared.join(location, "x"))
    got = shared.fetch(location, tmp_path / "cache" / "checkpoint_1")
    assert (got / "state.pt").read_bytes() == b"weights" and (got / "sub" / "metrics.json").read_text() == "[]"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["checkpoint_1"], "no temporary folder left"
    fs.delete_dir(f"{root}/run")
    assert shared.fetch(location, got) == got, "a complete local copy is kept"
    with pytest.raises(FileNotFoundError, match="checkpoint_2"):
        shared.fetch(shared.join(s3_bucket, "run/checkpoint_2"), tmp_path / "cache" / "checkpoint_2")


@pytest.mark.ray
def test_ddp_pretraining_on_s3_resumes_from_the_shared_checkpoint(ray_session, synthetic_shards, tmp_path, s3_bucket,
                                                                   smoke_overrides, monkeypatch):
    cfg = load_config("smoke", [*smoke_overrides, "pretrain.epochs=3", "resources.num_workers=2",
                                "resources.cpus_per_worker=0.9", "resources.max_failures=2"])
    # rank 0 exits hard after epoch 2 (0-based 1), once (tests/support/fault_injection.py)
    monkeypatch.setattr(train_ray, "_worker", CrashOnce(epoch=1, marker=str(tmp_path / "crashed-once")))
    pretrain = train_ray.pretrain_on_ray
    res = run_chain(synthetic_shards, cfg, run_dir=tmp_path / "run", experiment="s3",
                    plan=ChainPlan(stages=[], backend=pretrain), storage=s3_bucket)
    assert (tmp_path / "crashed-once").exists(), "rank 0 died after epoch 2; the group restarted from storage"
    assert read_state(res.checkpoint)["epoch"] == 2, "all 3 epochs, resumed from epoch 1's checkpoint on S3"
    client = MlflowClient(res.tracking_uri)
    tags = client.get_run(res.stage_runs["pretrain"]).data.tags
    location = tags[M.CHECKPOINT_LOCATION]
    assert location.startswith("s3://crossmoco-") and location.endswith("?" + s3_bucket.partition("?")[2])
    assert shared.is_file(shared.join(location, "state.pt")) and shared.is_file(shared.join(location, "metrics.json"))
    assert not (tmp_path / "run" / "ray").exists(), "nothing of the Ray run on the driver's disk"
    steps = [m.step for m in client.get_metric_history(res.stage_runs["pretrain"], "loss")]
    assert steps == [1, 2, 3], "one value per epoch across the restart"

    # The local copy is gone (another node ran the chain, or this one was replaced): the next
    # stage fetches the checkpoint from S3 instead of failing or pretraining again.
    shutil.rmtree(tags[M.CHECKPOINT])
    again = run_chain(synthetic_shards, cfg, run_dir=tmp_path / "run", experiment="s3",
                      plan=ChainPlan(stages=["knn"], backend=pretrain), storage=s3_bucket)
    assert again.resumed and "knn_top1" in again.metrics
    assert read_state(again.checkpoint)["epoch"] == 2 and again.checkpoint.is_relative_to(tmp_path / "run")
    fs, path = shared.filesystem(location)
    assert fs.get_file_info(path).type == pyarrow.fs.FileType.Directory
