"""An interrupted or failing grid, then ``--resume``.

Command: ``python -m crossmoco grid --over KEY=V1,V2 --name g ...``, interrupted (Ctrl-C) while a
trial runs, then the same command with ``--resume``.
Holds after the interruption: exit 130, one ``error: interrupted ...`` line, the unfinished
trial shown as interrupted (not failed), the grid's summary run KILLED (a failed trial: exit 1,
FAILED). Holds after ``--resume``: exit 0, the same summary run (one, named ``grid-g-<hash>``,
never ``grid-grid-...``), now FINISHED with the whole table.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import crossmoco.experiments.grid_runner
from crossmoco.pipeline.grid import TrialOutcome
from crossmoco.pipeline.tracking import CHAIN_KEY

from .conftest import ROOT, error_line, invoke

FAST = ["pretrain.epochs=1", "eval.protocols=knn", "pretrain.batch_size=16", "contrastive.queue_size=32"]


def _grid_args(shards: Path, run_dir: Path, name: str, *extra: str, workers: int = 0) -> list[object]:
    args: list[object] = ["grid", "--over", "contrastive.num_banks=1,2", "--name", name, "--data", shards,
                          "--run-dir", run_dir, *extra]  # fmt: skip
    for o in ["data.dataset=synthetic", "data.split=xsub", f"resources.num_workers={workers}", *FAST]:
        args += ["--set", o]
    return args


def _summaries(run_dir: Path) -> list[tuple[str, str]]:
    """(name, status) of the grid summary runs in the store."""
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string="tags.`crossmoco.grid` != ''")
    return sorted((r.info.run_name, r.info.status) for r in runs if not r.data.tags.get(CHAIN_KEY))


def _fake_grid(monkeypatch, statuses: list[str]) -> None:
    """Tune's part replaced: trials end as ``statuses`` say (no Ray, no training)."""

    def run_grid(trials, data_dir, **kwargs):
        out = []
        for t, status in zip(trials, statuses, strict=True):
            metrics = {"knn_top1": 50.0} if status == "finished" else {}
            error = "RuntimeError: boom" if status == "failed" else ""
            out.append(TrialOutcome(t.name, t.row_id, metrics, "run-" + t.name if metrics else "", error, status))
        return out

    monkeypatch.setattr(crossmoco.experiments.grid_runner, "run_grid", run_grid)
    monkeypatch.setattr(crossmoco.experiments.grid_runner, "ray_init_local", lambda: None)


def test_interrupted_grid_exits_130_and_resume_finishes_the_same_summary(tiny_shards, run_dir, monkeypatch):
    _fake_grid(monkeypatch, ["finished", "interrupted"])
    proc = invoke(*_grid_args(tiny_shards, run_dir, "grid-g"))
    assert proc.returncode == 130
    assert "interrupted" in error_line(proc, "--resume")
    assert "interrupted" in proc.stdout and "failed" not in proc.stdout
    (summary,) = _summaries(run_dir)
    assert summary[1] == "KILLED" and not summary[0].startswith("grid-grid-")
    _fake_grid(monkeypatch, ["finished", "finished"])
    again = invoke(*_grid_args(tiny_shards, run_dir, "grid-g", "--resume"))
    assert again.returncode == 0, again.stderr
    assert _summaries(run_dir) == [(summary[0], "FINISHED")], "the same summary run, now finished"


def test_a_failed_trial_makes_the_grid_fail(tiny_shards, run_dir, monkeypatch):
    _fake_grid(monkeypatch, ["finished", "failed"])
    proc = invoke(*_grid_args(tiny_shards, run_dir, "g"))
    assert proc.returncode == 1
    error_line(proc, "RuntimeError: boom")
    assert _summaries(run_dir)[0][1] == "FAILED"


@pytest.mark.slow
@pytest.mark.ray
def test_ctrl_c_during_a_grid_then_resume(tiny_shards, tmp_path):
    """The real thing: Ray Tune, SIGINT to the driver once trial 1's chain finished."""
    cmd = [sys.executable, "-m", "crossmoco", *map(str, _grid_args(tiny_shards, tmp_path, "g", workers=1))]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.time() + 900
        while time.time() < deadline and proc.poll() is None and len(_chains(tmp_path)) < 2:
            time.sleep(1)  # trial 1's chain is finished and trial 2's has started
        assert proc.poll() is None, "the grid ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    first = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert first.returncode == 130, err[-3000:]
    assert "interrupted" in error_line(first) and "interrupted" in out
    (summary,) = _summaries(tmp_path)
    assert summary[0].startswith("grid-g-") and summary[1] == "KILLED"  # grid-<name>-<hash of the trials>
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _summaries(tmp_path) == [(summary[0], "FINISHED")]
    assert sorted(_chains(tmp_path).values()) == ["FINISHED", "FINISHED"]


def _chains(run_dir: Path) -> dict[str, str]:
    try:
        client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
        exp = client.get_experiment_by_name("g")
        runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{CHAIN_KEY}` != ''") if exp else []
        return {r.info.run_id: r.info.status for r in runs}
    except Exception:  # the store is being created
        return {}
