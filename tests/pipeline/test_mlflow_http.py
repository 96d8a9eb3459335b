"""MLflow as a server, as on a cluster: `mlflow server` on 127.0.0.1 (SQLite behind it, artifacts
proxied into its own folder), and a chain and a 2-trial grid whose Ray workers log over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from crossmoco.experiments.grids import over_trials
from crossmoco.pipeline import tracking
from crossmoco.pipeline.chain import run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.grid import run_grid

pytestmark = pytest.mark.ray
EVAL = ["eval.protocols=linear", "eval.linear_epochs=3", "eval.eval_every=1", "pretrain.batch_size=16"]
FIGURES = {"pretrain": {"pretrain_curves.png"}, "linear": {"confusion.png", "curves.png", "tsne.png"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory, start_mlflow_server):
    store = tmp_path_factory.mktemp("mlflow-server")
    with start_mlflow_server(store) as base:
        yield base, store


def _chain_tree(client: MlflowClient, exp_id: str, parent_id: str) -> dict[str, object]:
    kids = client.search_runs([exp_id], filter_string=f"tags.`{tracking.PARENT}` = '{parent_id}'")
    return {k.data.tags[tracking.STAGE]: k for k in kids}


def _check_chain(client: MlflowClient, store: Path, exp_id: str, parent_id: str, epochs: int) -> None:
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and "linear_top1" in parent.data.metrics
    assert parent.info.artifact_uri.startswith("mlflow-artifacts:"), "artifacts go through the server"
    kids = _chain_tree(client, exp_id, parent_id)
    assert set(kids) == {"pretrain", "linear"} and all(k.info.status == "FINISHED" for k in kids.values())
    pre = kids["pretrain"].info.run_id
    for key in ("loss", "lr", "samples_per_s"):
        assert [m.step for m in client.get_metric_history(pre, key)] == list(range(1, epochs + 1)), key
    assert len(client.get_metric_history(kids["linear"].info.run_id, "linear_test_top1")) == 3
    for stage, names in FIGURES.items():
        run = kids[stage].info
        listed = {Path(a.path).name for a in client.list_artifacts(run.run_id, "figures")}
        assert names <= listed, (stage, listed)
        on_disk = list((store / "mlartifacts").rglob(f"{run.run_id}/artifacts/figures/{sorted(names)[0]}"))
        assert len(on_disk) == 1 and on_disk[0].read_bytes().startswith(b"\x89PNG"), "proxied into the server's store"


def test_chain_with_ddp_workers_logs_over_http(ray_session, synthetic_shards, tmp_path, server, monkeypatch):
    base, store = server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", base)
    cfg = load_config("smoke", ["pretrain.epochs=2", *EVAL, "resources.num_workers=2", "resources.cpus_per_worker=0.9"])
    res = run_chain(synthetic_shards, cfg, run_dir=tmp_path, experiment="http-chain")
    assert res.tracking_uri == base
    assert not (tmp_path / "mlflow.db").exists(), "nothing went to a local SQLite file"
    _check_chain(MlflowClient(base), store, res.experiment_id, res.parent_run_id, epochs=2)


@pytest.mark.slow  # a 2-trial grid over HTTP: `make test-all`; keeps `make test` under 10 minutes
def test_two_trials_logging_at_once_lose_nothing(ray_session, synthetic_shards, tmp_path, server, monkeypatch):
    base, store = server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", base)  # read by the grid's driver only, then handed to the trials
    cfg = load_config("smoke", ["pretrain.epochs=3", *EVAL, "resources.num_workers=1", "resources.cpus_per_worker=0.9"])
    trials = over_trials(cfg, ["contrastive.num_banks=1,2"])
    outcomes = run_grid(trials, synthetic_shards, run_dir=tmp_path, name="http", experiment="http-grid")
    assert [o.status for o in outcomes] == ["finished", "finished"], [o.error for o in outcomes]
    assert not (tmp_path / "mlflow.db").exists()
    client = MlflowClient(base)
    exp_id = client.get_experiment_by_name("http-grid").experiment_id
    parents = client.search_runs([exp_id], filter_string=f"tags.`{tracking.CHAIN_KEY}` != ''")
    assert {p.info.run_id for p in parents} == {o.parent_run_id for o in outcomes}
    pretrains = [_chain_tree(client, exp_id, p.info.run_id)["pretrain"] for p in parents]
    spans = sorted((r.info.start_time, r.info.end_time) for r in pretrains)
    assert spans[1][0] < spans[0][1], "the two pretrainings ran (and logged) at the same time"
    for p in parents:
        _check_chain(client, store, exp_id, p.info.run_id, epochs=3)
