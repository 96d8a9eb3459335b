"""A whole chain on synthetic shards: the MLflow run tree, artifacts, failure and resume."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from crossmoco.pipeline import chain as chain_mod
from crossmoco.pipeline.chain import ChainLabels, ChainPlan, StageError, run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import DataError, load_dataset
from crossmoco.pipeline.tracking import PARENT, STAGE


def _children(client, exp, parent):
    runs = client.search_runs([exp], filter_string=f"tags.`{PARENT}` = '{parent}'")
    return {r.data.tags[STAGE]: r for r in runs}


def test_chain_leaves_a_complete_run_tree(synthetic_shards, tmp_path, smoke_overrides):
    cfg = load_config("smoke", [*smoke_overrides, "resources.num_workers=0"])
    res = run_chain(synthetic_shards, cfg, run_dir=tmp_path, experiment="t", labels=ChainLabels("table5-test"))
    client = MlflowClient(res.tracking_uri)
    parent = client.get_run(res.parent_run_id)
    assert parent.info.status == "FINISHED"
    for tag in ("crossmoco.row", "crossmoco.git_sha", "crossmoco.config_hash", "crossmoco.data_hash",
                "crossmoco.device", "crossmoco.precision"):
        assert parent.data.tags.get(tag), tag
    assert parent.data.tags["crossmoco.precision"] == "fp32 (pretrain.precision=fp32)"
    assert parent.data.params["contrastive.num_banks"] == "2"
    kids = _children(client, res.experiment_id, res.parent_run_id)
    assert set(kids) == {"pretrain", "linear", "knn"}
    assert all(k.info.status == "FINISHED" for k in kids.values())
    loss = client.get_metric_history(kids["pretrain"].info.run_id, "loss")
    assert [m.step for m in loss] == [1, 2]
    assert 0 <= res.metrics["linear_top1"] <= 100 and "knn_top1" in res.metrics
    arts = {a.path for a in client.list_artifacts(kids["linear"].info.run_id, "figures")}
    assert {"figures/confusion.png", "figures/curves.png", "figures/tsne.png"} <= arts
    assert {a.path for a in client.list_artifacts(kids["pretrain"].info.run_id, "figures")} == {
        "figures/pretrain_curves.png"}
    assert "config.json" in {a.path for a in client.list_artifacts(res.parent_run_id)}
    assert len(client.get_metric_history(kids["linear"].info.run_id, "linear_test_top1")) == 3


def test_interrupted_chain_resumes_into_the_same_parent(synthetic_shards, tmp_path, smoke_overrides, monkeypatch):
    cfg = load_config("smoke", [*smoke_overrides, "resources.num_workers=0"])
    calls = {"pretrain": 0}
    real = chain_mod.pretrain

    def counting(*a, **k):
        calls["pretrain"] += 1
        return real(*a, **k)

    def broken(*a, **k):
        raise RuntimeError("evaluation node lost")

    monkeypatch.setattr(chain_mod, "run_protocol", broken)
    with pytest.raises(StageError, match="'linear'") as err:
        run_chain(synthetic_shards, cfg, run_dir=tmp_path, experiment="t", plan=ChainPlan(backend=counting))
    assert err.value.stage == "linear"
    monkeypatch.undo()
    res = run_chain(synthetic_shards, cfg, run_dir=tmp_path, experiment="t", plan=ChainPlan(backend=counting))
    assert calls["pretrain"] == 1, "a finished pretraining stage is not run again"
    assert res.resumed
    client = MlflowClient(res.tracking_uri)
    parents = client.search_runs([res.experiment_id], filter_string=f"attributes.run_id = '{res.parent_run_id}'")
    assert len(client.search_runs([res.experiment_id], filter_string="tags.`crossmoco.chain_key` != ''")) == 1
    assert parents[0].info.status == "FINISHED"
    kids = _children(client, res.experiment_id, res.parent_run_id)
    assert set(kids) == {"pretrain", "linear", "knn"} and kids["linear"].info.status == "FINISHED"


def test_missing_or_mismatched_dataset_is_a_clear_error(synthetic_shards, tmp_path):
    with pytest.raises(DataError, match="no manifest"):
        load_dataset(tmp_path, load_config("smoke"))
    with pytest.raises(DataError, match="data.dataset='ucla'"):
        load_dataset(synthetic_shards, load_config("smoke", ["data.dataset=ucla"]))
    with pytest.raises(DataError, match="no split 'xset'"):
        load_dataset(synthetic_shards, load_config("smoke", ["data.split=xset"]))
