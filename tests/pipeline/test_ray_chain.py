"""Ray Train: DDP on two local workers, a worker killed mid-run, one MLflow run throughout."""

from __future__ import annotations

import pytest
from fault_injection import CrashOnce
from mlflow.tracking import MlflowClient

from crossmoco.pipeline import train_ray
from crossmoco.pipeline.chain import ChainPlan, run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.training.checkpoints import read_state

pytestmark = pytest.mark.ray


def test_chain_pretrains_with_ddp_on_two_ray_workers(ray_session, synthetic_shards, tmp_path, smoke_overrides):
    cfg = load_config("smoke", [*smoke_overrides, "resources.num_workers=2", "resources.cpus_per_worker=0.9"])
    fits = []

    def pretrain(job):
        fits.append(train_ray.pretrain_on_ray(job))
        return fits[-1]

    res = run_chain(synthetic_shards, cfg, run_dir=tmp_path, experiment="ray",
                    plan=ChainPlan(stages=["linear"], backend=pretrain))
    assert read_state(res.checkpoint)["epoch"] == 1
    # rank 0's per-epoch history comes back through Ray's Result.return_value (bench/bench_ray.py reads it)
    assert len(fits[0].history) == 2 and all(h["samples_per_s"] > 0 for h in fits[0].history)
    client = MlflowClient(res.tracking_uri)
    pre = client.get_run(res.stage_runs["pretrain"])
    assert pre.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(pre.info.run_id, "loss")] == [1, 2]


def test_killed_worker_is_retried_from_its_checkpoint(ray_session, synthetic_shards, tmp_path, smoke_overrides,
                                                      monkeypatch):
    cfg = load_config("smoke", [*smoke_overrides, "pretrain.epochs=3", "resources.num_workers=2",
                                "resources.cpus_per_worker=0.9", "resources.max_failures=2"])
    monkeypatch.setattr(train_ray, "_worker", CrashOnce(epoch=1, marker=str(tmp_path / "crashed-once")))
    res = run_chain(synthetic_shards, cfg, run_dir=tmp_path, experiment="fault", plan=ChainPlan(stages=[]))
    assert (tmp_path / "crashed-once").exists(), "the fault was injected"
    assert read_state(res.checkpoint)["epoch"] == 2, "the run finished all 3 epochs"
    client = MlflowClient(res.tracking_uri)
    runs = client.search_runs([res.experiment_id], filter_string="tags.`crossmoco.stage` = 'pretrain'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = sorted({m.step for m in client.get_metric_history(runs[0].info.run_id, "loss")})
    assert steps == [1, 2, 3]
