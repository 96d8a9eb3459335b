"""SIGTERM (what a cluster sends before it takes a node) ends a chain as Ctrl-C does.

Command: ``chain ...``, sent SIGTERM while it pretrains. Holds: exit 143, one ``error:`` line
saying it was terminated, the parent and the running stage's MLflow runs KILLED (not RUNNING, as
the default SIGTERM left them; the rerun adopts them either way).
"""

from __future__ import annotations

import os
import signal
import time

from mlflow.tracking import MlflowClient

from crossmoco.pipeline import chain as chain_mod

from .conftest import error_line, invoke

TINY = ["data.dataset=synthetic", "data.split=xsub", "pretrain.epochs=2", "resources.num_workers=0",
        "eval.protocols=knn"]  # fmt: skip


def test_sigterm_marks_the_runs_killed(tiny_shards, run_dir, monkeypatch) -> None:
    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the handler interrupts this
        raise AssertionError("SIGTERM was not handled")

    monkeypatch.setattr(chain_mod, "pretrain", terminated)
    before = signal.getsignal(signal.SIGTERM)
    try:
        proc = invoke("chain", tiny_shards, "--run-dir", run_dir, "--profile", "smoke",
                      *(a for o in TINY for a in ("--set", o)))  # fmt: skip
    finally:
        signal.signal(signal.SIGTERM, before)
    assert proc.returncode == 143
    assert "terminated (SIGTERM)" in error_line(proc)
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("crossmoco")
    assert {r.info.status for r in client.search_runs([exp.experiment_id])} == {"KILLED"}
