"""Divergence is a failure: a non-finite loss stops the run, one line, nothing from after it kept.

Command: ``chain DATA --profile smoke --set optim.lr=1e6`` (in this process: ``num_workers=0``).
Holds: exit 1 before any evaluation stage, one ``error:`` line naming the epoch and step; the
pretraining child run and the parent are FAILED in MLflow (never FINISHED, so no later chain
reuses the checkpoint); every checkpoint left holds finite weights; no metric is logged twice at
one step. The metric journal counts logged epochs by the epoch key: MLflow drops a NaN loss, and
counting by loss logged every other key of that row again.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from crossmoco.pipeline import tracking
from crossmoco.pipeline.metric_journal import MetricJournal
from crossmoco.training import metrics as M

from .conftest import error_line, invoke


def test_a_diverging_chain_fails_before_evaluation(tiny_shards: Path, run_dir: Path, no_ray) -> None:
    proc = invoke("chain", tiny_shards, "--profile", "smoke", "--run-dir", run_dir, "--set", "data.dataset=synthetic",
                  "--set", "resources.num_workers=0", "--set", "optim.lr=1e6", "--set", "pretrain.epochs=3",
                  "--set", "eval.protocols=knn")  # fmt: skip
    line = error_line(proc, "diverged")
    assert proc.returncode == 1
    assert re.search(r"epoch \d+(, step \d+ of \d+|, last step)", line), line
    store = tracking.Store(f"sqlite:///{run_dir / 'mlflow.db'}", "0")
    runs = store.client.search_runs([e.experiment_id for e in store.client.search_experiments()])
    status = {r.data.tags.get(tracking.STAGE, "parent"): r.info.status for r in runs}
    assert status == {"parent": "FAILED", "pretrain": "FAILED"}, status  # no evaluation stage started
    for state in run_dir.rglob("state.pt"):
        weights = torch.load(state, weights_only=True)["model"]
        assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point()), state
    pretrain = next(r for r in runs if r.data.tags.get(tracking.STAGE) == "pretrain")
    for key in pretrain.data.metrics:
        steps = [m.step for m in store.client.get_metric_history(pretrain.info.run_id, key)]
        assert len(steps) == len(set(steps)), (key, steps)


def test_a_nan_loss_row_is_logged_once(run_dir: Path) -> None:
    store = tracking.init_store(f"sqlite:///{run_dir / 'mlflow.db'}", "journal")
    run_id = tracking.start_stage_free(store, "pretrain", {})
    journal = MetricJournal(store, run_id, [{M.LOSS: math.nan, M.EPOCH: 1.0, M.LR: 0.1}])
    journal.flush()
    journal.flush()  # a resumed run flushes the same rows again
    assert [m.step for m in store.client.get_metric_history(run_id, M.LR)] == [1]
