"""Grids on Ray Tune: trials from tables and --over, linked MLflow chains, the summary, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from crossmoco.experiments.grids import SummaryRow, fe_below_le, markdown, over_trials, summarize, table_trials
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.grid import concurrency, run_grid, trial_resources
from crossmoco.pipeline.tracking import CHAIN_KEY

ROOT = Path(__file__).resolve().parents[2]
FAST = ["pretrain.epochs=1", "eval.linear_epochs=2", "eval.finetune_epochs=1", "pretrain.batch_size=16"]


def test_table_trials_merge_rows_that_share_a_pretraining():
    trials = table_trials("III", "smoke", [], synthetic=True)
    assert len(trials) == 3, "banks 1/2/3, each one trial for its LE and FE rows on both datasets"
    for t in trials:
        assert set(t.config.eval.protocols) == {"linear", "finetune"}
        banks = t.config.contrastive.num_banks
        # On synthetic data the PKU-MMD and NW-UCLA rows of one setting pretrain the same way: one trial.
        assert t.config.data.dataset == "synthetic"
        assert sorted(t.row_id.split(",")) == sorted(f"table3-banks{banks}{d}-{p}" for d in ("", "-ucla")
                                                      for p in ("le", "fe"))
    assert sorted(t.config.contrastive.num_banks for t in trials) == [1, 2, 3]
    ucla = table_trials("table3-banks1-ucla-le,table3-banks1-ucla-fe,table3-banks2-ucla-le", "smoke", [],
                        synthetic=True)
    assert sorted(t.row_id for t in ucla) == ["table3-banks1-ucla-le,table3-banks1-ucla-fe", "table3-banks2-ucla-le"]


def test_over_trials_are_a_validated_cartesian_product():
    trials = over_trials(load_config("smoke"), ["contrastive.num_banks=1,2", "encoder.mlp_layers=1,3"])
    assert len(trials) == 4
    assert {(t.config.contrastive.num_banks, t.config.encoder.mlp_layers) for t in trials} == {(1, 1), (1, 3),
                                                                                               (2, 1), (2, 3)}
    with pytest.raises(ValueError, match="num_banks"):
        over_trials(load_config("smoke"), ["contrastive.num_banks=1,7"])


def test_over_trials_grid_a_list_valued_key_with_plus_joined_points():
    trials = over_trials(load_config("smoke"), ["augment.steps=shear+crop,occlusion,none"])
    assert [t.config.augment.steps for t in trials] == [("shear", "crop"), ("occlusion",), ()]


def test_an_fe_figure_below_its_le_figure_comes_with_a_reason():
    rows = [SummaryRow(f"table3-banks{b}-{p}", "", None, v, "run") for b, p, v in
            [(1, "le", 77.3), (1, "fe", 80.9), (2, "le", 80.4), (2, "fe", 78.7), (3, "le", 76.0), (3, "fe", None)]]
    note = fe_below_le(rows, "smoke")
    assert "FE below LE for table3-banks2 (78.7 < 80.4): " in note and "banks1" not in note and "banks3" not in note
    assert "LP-FT" in note and len(note.strip().splitlines()) == 1
    assert fe_below_le(rows[:2], "smoke") == ""


def test_concurrency_refuses_trials_that_cannot_fit():
    assert concurrency(load_config("smoke"), 2.0) == 1
    in_process = load_config("cpu")  # resources.num_workers=0: the chain trains in the trial, 1 CPU each
    assert trial_resources(in_process) == {"CPU": 1.0} and concurrency(in_process, 2.0) == 2
    shared_gpu = load_config("cpu", ["resources.use_gpu=true", "resources.gpus_per_worker=0.25"])
    assert trial_resources(shared_gpu) == {"CPU": 1.0, "GPU": 0.25}
    assert concurrency(shared_gpu, 16.0, 1.0) == 4, "four trials share one GPU"
    with pytest.raises(ValueError, match="GPUs"):
        concurrency(shared_gpu, 16.0, 0.0)
    assert concurrency(load_config("smoke"), 8.0) == 4
    with pytest.raises(ValueError, match="cpus_per_worker"):
        concurrency(load_config("smoke", ["resources.cpus_per_worker=1"]), 2.0)


@pytest.mark.ray
def test_two_trial_grid_leaves_two_linked_chains(ray_session, synthetic_shards, tmp_path):
    base = load_config("smoke", ["data.dataset=synthetic", "eval.protocols=linear", *FAST])
    trials = over_trials(base, ["contrastive.num_banks=1,2"])
    outcomes = run_grid(trials, synthetic_shards, run_dir=tmp_path, name="g", experiment="grid-test")
    assert [o.error for o in outcomes] == ["", ""]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("grid-test").experiment_id
    parents = client.search_runs([exp], filter_string=f"tags.`{CHAIN_KEY}` != ''")
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert {p.info.run_id for p in parents} == {o.parent_run_id for o in outcomes}
    assert all(p.data.tags.get("crossmoco.tune_trial") for p in parents), "chain -> trial link"
    rows = summarize(trials, outcomes)
    assert len(rows) == 2 and all(r.measured is not None for r in rows)
    assert "linear_top1" in markdown(rows, "t")


@pytest.mark.slow
def test_interrupted_grid_resumes_without_rerunning_finished_trials(tmp_path):
    """Kill the grid's driver once trial 1's chain has finished; --resume must not run it again."""
    cmd = [sys.executable, "-m", "crossmoco", "grid", "--over", "contrastive.num_banks=1,2", "--name", "g",
           "--run-dir", str(tmp_path), "--set", "eval.protocols=linear"]
    for o in FAST:
        cmd += ["--set", o]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "mlflow.db"
    deadline = time.time() + 600
    try:
        while time.time() < deadline and not _finished_chains(db):
            time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = _finished_chains(db)
    assert len(first) == 1, "trial 1 finished before the kill"
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    chains = _finished_chains(db)
    assert len(chains) == 2 and first[0] in chains, "one new chain; the finished one kept"
    pretrains = MlflowClient(f"sqlite:///{db}").search_runs(
        [_exp(db)], filter_string="tags.`crossmoco.stage` = 'pretrain'")
    assert len(pretrains) == 2, "the finished trial's pretraining was not run again"


def _exp(db: Path) -> str:
    return MlflowClient(f"sqlite:///{db}").get_experiment_by_name("g").experiment_id


def _finished_chains(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        client = MlflowClient(f"sqlite:///{db}")
        exp = client.get_experiment_by_name("g")
        if exp is None:
            return []
        runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{CHAIN_KEY}` != ''")
        return [r.info.run_id for r in runs if r.info.status == "FINISHED"]
    except Exception:  # the database may be mid-creation
        return []
