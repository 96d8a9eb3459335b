"""What the README's MLflow walk-through promises, checked over HTTP: `mlflow server` (127.0.0.1, a
free port, the chain's SQLite store) over a finished smoke chain, read through MLflow's REST API."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from crossmoco.pipeline import tracking
from crossmoco.pipeline.chain import ChainLabels, run_chain
from crossmoco.pipeline.config_file import load_config

ROWS = "table2-crossed-le,table2-crossed-fe"  # one chain, two table rows: LE and FE
FAST = ["resources.num_workers=0", "pretrain.epochs=2", "eval.protocols=linear,finetune", "eval.linear_epochs=3",
        "eval.finetune_epochs=1", "eval.eval_every=1"]


@pytest.fixture(scope="module")
def chain(synthetic_shards, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("mlflow-ui")
    result = run_chain(synthetic_shards, load_config("smoke", FAST), run_dir=run_dir, experiment="table2",
                       labels=ChainLabels(ROWS))
    return run_dir, result


@pytest.fixture(scope="module")
def server(chain, start_mlflow_server):
    """`mlflow server` on the chain's store (tests/conftest.py); stopped after the module."""
    run_dir, _ = chain
    with start_mlflow_server(run_dir) as base:
        yield base


def _get(base: str, route: str, **query: str) -> bytes:
    url = base + route + ("?" + urllib.parse.urlencode(query) if query else "")
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200, url
        return r.read()


def _api(base: str, path: str, body: dict | None = None, **query: str) -> dict:
    if body is None:
        return json.loads(_get(base, "/api/2.0/mlflow/" + path, **query))
    req = urllib.request.Request(base + "/api/2.0/mlflow/" + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _tags(entity: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags", entity.get("data", {}).get("tags", []))}


def test_experiment_opens_on_its_runs_with_the_headline_metrics(server):
    exp = _api(server, "experiments/get-by-name", experiment_name="table2")["experiment"]
    tags = _tags(exp)
    assert tags[tracking.EXPERIMENT_KIND] == "custom_model_development"
    view = json.loads(tags[tracking.SHARED_VIEW + tracking.VIEW_KEY])
    assert view["selectedColumns"][:2] == ["metrics.`linear_top1`", "metrics.`finetune_top1`"]  # LE, FE
    url = tracking.runs_url(exp["experiment_id"])
    assert f"#/experiments/{exp['experiment_id']}/runs?" in url
    assert "workflowType=machine_learning" in url and f"viewStateShareKey={tracking.VIEW_KEY}" in url
    assert b"<html" in _get(server, "/").lower()


def test_parent_run_carries_the_rows_and_metrics_and_its_stage_children(server, chain):
    _, result = chain
    exp_id = result.experiment_id
    parents = _api(server, "runs/search", {"experiment_ids": [exp_id],
                                           "filter": f"tags.`{tracking.CHAIN_KEY}` != ''"})["runs"]
    assert [p["info"]["run_id"] for p in parents] == [result.parent_run_id]
    parent = parents[0]
    assert parent["info"]["status"] == "FINISHED" and _tags(parent)["crossmoco.row"] == ROWS
    metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
    assert {"linear_top1", "finetune_top1"} <= set(metrics)
    assert metrics["linear_top1"] == round(result.metrics["linear_top1"], 2)
    kids = _api(server, "runs/search", {"experiment_ids": [exp_id],
                                        "filter": f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"})["runs"]
    stages = {_tags(k)[tracking.STAGE]: k for k in kids}
    assert set(stages) == {"pretrain", "linear", "finetune"}
    assert all(k["info"]["status"] == "FINISHED" for k in kids)


def test_metric_histories_and_png_figures_are_served(server, chain):
    _, result = chain
    runs = result.stage_runs
    loss = _api(server, "metrics/get-history", run_id=runs["pretrain"], metric_key="loss")["metrics"]
    assert sorted(m["step"] for m in loss) == [1, 2]
    curve = _api(server, "metrics/get-history", run_id=runs["linear"], metric_key="linear_test_top1")["metrics"]
    assert len(curve) == 3
    for stage, names in {"pretrain": {"pretrain_curves.png"},
                         "linear": {"confusion.png", "curves.png", "tsne.png"},
                         "finetune": {"confusion.png", "curves.png"}}.items():
        listed = json.loads(_get(server, "/ajax-api/2.0/mlflow/artifacts/list", run_id=runs[stage], path="figures"))
        found = {Path(f["path"]).name for f in listed.get("files", [])}
        assert names <= found, (stage, found)
        png = _get(server, "/get-artifact", path=f"figures/{sorted(names)[0]}", run_uuid=runs[stage])
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
