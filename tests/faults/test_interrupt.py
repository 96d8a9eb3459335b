"""Ctrl-C and SIGKILL during a chain, then the same command again.

Command: ``python -m crossmoco chain DATA ...``, interrupted (Ctrl-C: SIGINT to the driver) or killed
(SIGKILL), then run again.
Holds after Ctrl-C: exit 130, one ``error: interrupted ...`` line, the parent run and the running
stage's run KILLED (not FAILED; Ray Train's own SIGINT handler ends the driver with SystemExit,
which is an interruption too). Holds after SIGKILL: the runs stay RUNNING (nothing can mark them),
and the rerun adopts them: one parent run, one run per stage, all FINISHED, one value per epoch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from crossmoco.pipeline import chain as chain_mod
from crossmoco.pipeline.chain import ChainInterrupted, run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.training import metrics as M

from .conftest import ROOT, error_line, invoke

TINY = ["data.dataset=synthetic", "data.split=xsub", "pretrain.epochs=2", "pretrain.batch_size=16",
        "contrastive.queue_size=32", "eval.protocols=knn"]  # fmt: skip


def _runs(run_dir: Path) -> dict[str, str]:
    """run name -> status of every run in the store of ``run_dir``."""
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("crossmoco")
    return {r.info.run_name: r.info.status for r in client.search_runs([exp.experiment_id])} if exp else {}


@pytest.mark.parametrize("signal_as", [KeyboardInterrupt, lambda: SystemExit(1)])
def test_an_interrupted_stage_is_killed_not_failed(tiny_shards, run_dir, monkeypatch, signal_as):
    def interrupted(*args, **kwargs):
        raise signal_as()

    monkeypatch.setattr(chain_mod, "pretrain", interrupted)
    cfg = load_config("smoke", [*TINY, "resources.num_workers=0"])
    with pytest.raises(ChainInterrupted, match="pretrain"):
        run_chain(tiny_shards, cfg, run_dir=run_dir, experiment="crossmoco")
    assert set(_runs(run_dir).values()) == {"KILLED"} and len(_runs(run_dir)) == 2


def test_ctrl_c_is_exit_130_and_one_line(tiny_shards, run_dir, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(chain_mod, "pretrain", interrupted)
    proc = invoke("chain", tiny_shards, "--run-dir", run_dir, "--profile", "smoke",
                  *(a for o in [*TINY, "resources.num_workers=0"] for a in ("--set", o)))  # fmt: skip
    assert proc.returncode == 130
    assert "interrupted" in error_line(proc)
    assert set(_runs(run_dir).values()) == {"KILLED"}


def _chain_cmd(shards: Path, run_dir: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "crossmoco", "chain", str(shards), "--profile", "smoke", "--run-dir", str(run_dir)]
    for o in [*TINY, "pretrain.epochs=8", *extra]:
        cmd += ["--set", o]
    return cmd


def _start_and_signal(cmd: list[str], run_dir: Path, sig: int, after_step: int) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; once the pretraining run has logged ``after_step``, send ``sig`` to the driver."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None and _pretrain_steps(run_dir) < after_step:
            time.sleep(0.5)
        assert proc.poll() is None, "the chain ended before it could be interrupted"
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if sig == signal.SIGKILL:  # the driver's Ray processes outlive it: end them as Ctrl-C would
            _end_group(proc.pid)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _end_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _pretrain_steps(run_dir: Path) -> int:
    try:
        client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
        exp = client.get_experiment_by_name("crossmoco")
        runs = client.search_runs([exp.experiment_id], filter_string="tags.`crossmoco.stage` = 'pretrain'")
        return max((m.step for m in client.get_metric_history(runs[0].info.run_id, M.LOSS)), default=0)
    except Exception:  # the store is being created
        return 0


def _rerun_finishes_everything(cmd: list[str], run_dir: Path) -> None:
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs = _runs(run_dir)
    assert sorted(runs)[1:] == ["knn", "pretrain"] and set(runs.values()) == {"FINISHED"}, runs
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    (pre,) = client.search_runs([client.get_experiment_by_name("crossmoco").experiment_id],
                                filter_string="tags.`crossmoco.stage` = 'pretrain'")
    assert [m.step for m in client.get_metric_history(pre.info.run_id, M.LOSS)] == list(range(1, 9))


@pytest.mark.slow
@pytest.mark.ray
def test_ctrl_c_during_ray_pretraining_then_resume(tiny_shards, tmp_path):
    cmd = _chain_cmd(tiny_shards, tmp_path, ["pretrain.checkpoint_every=2"])
    proc = _start_and_signal(cmd, tmp_path, signal.SIGINT, after_step=2)
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "interrupted" in error_line(proc)
    assert set(_runs(tmp_path).values()) == {"KILLED"}, _runs(tmp_path)
    _rerun_finishes_everything(cmd, tmp_path)


@pytest.mark.slow
@pytest.mark.ray
def test_sigkilled_chain_is_adopted_by_the_rerun(tiny_shards, tmp_path):
    cmd = _chain_cmd(tiny_shards, tmp_path, ["pretrain.checkpoint_every=2"])
    _start_and_signal(cmd, tmp_path, signal.SIGKILL, after_step=2)
    assert set(_runs(tmp_path).values()) == {"RUNNING"}, "a SIGKILLed driver cannot mark its runs"
    _rerun_finishes_everything(cmd, tmp_path)
