"""A chain killed between two checkpoints, then run again: nothing duplicated, nothing different.

Command: ``python -m crossmoco pretrain DATA --set pretrain.checkpoint_every=2 ...``, killed after
epoch 3 was trained (the last checkpoint is epoch 2's), then the same command again.
Holds after: one parent run and one pretraining child run, both FINISHED; the pretraining run's
metric history has exactly one value per epoch (steps 1, 2, 3, 4), and every value equals the one
an uninterrupted run logs (the resumed run restores the model, the banks, the optimizer, the
sampler and the random streams from the checkpoint); no resume copy of the checkpoint is left.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path

import pytest
from fault_injection import CrashOnce, crash_after
from mlflow.tracking import MlflowClient

import crossmoco.pipeline.worker
from crossmoco.pipeline import train_ray
from crossmoco.pipeline.chain import ChainPlan, StageError, run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import load_dataset
from crossmoco.training import metrics as M
from crossmoco.training.config import to_flat_dict
from crossmoco.training.engine import WorkerContext, run_pretraining

KEYS = (M.LOSS, M.LR, M.MOMENTUM)
RESUME_COPIES = os.path.join(tempfile.gettempdir(), "crossmoco-resume-*")
SMALL = ["pretrain.epochs=4", "pretrain.checkpoint_every=2", "pretrain.batch_size=16", "contrastive.queue_size=32",
         "data.dataset=synthetic", "data.split=xsub"]  # fmt: skip


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the chain catches it as an error of its own."""


def _histories(uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = MlflowClient(uri)
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in KEYS}


def _kill_after(monkeypatch, epoch: int) -> None:
    """The in-process pretraining dies right after training ``epoch`` (0-based) and reporting it."""

    def kill() -> None:
        raise Killed

    monkeypatch.setattr(crossmoco.pipeline.worker, "run_pretraining", crash_after(epoch, kill))


def _uninterrupted(cfg, shards: Path) -> dict[str, list[tuple[int, float]]]:
    """The per-epoch metrics of the same pretraining run start to end in one go (no MLflow)."""
    data = load_dataset(shards, cfg)
    rows: list[dict[str, float]] = []
    run_pretraining(cfg, data.arrays("train")[0], data.info, WorkerContext(report=lambda m, c: rows.append(m)))
    return {k: [(int(r[M.EPOCH]), r[k]) for r in rows] for k in KEYS}


def test_killed_between_checkpoints_resumes_to_the_uninterrupted_history(tiny_shards, run_dir, monkeypatch):
    cfg = load_config("smoke", [*SMALL, "resources.num_workers=0"])
    expected = _uninterrupted(cfg, tiny_shards)
    assert [s for s, _ in expected[M.LOSS]] == [1, 2, 3, 4]

    _kill_after(monkeypatch, epoch=2)  # epoch 3 trained and reported; the last checkpoint is epoch 2's
    with pytest.raises((Killed, StageError)):
        run_chain(tiny_shards, cfg, run_dir=run_dir, experiment="t", plan=ChainPlan(stages=[]))
    monkeypatch.undo()
    first = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    (pre,) = first.search_runs([first.get_experiment_by_name("t").experiment_id],
                               filter_string="tags.`crossmoco.stage` = 'pretrain'")
    assert [m.step for m in first.get_metric_history(pre.info.run_id, M.LOSS)] == [1, 2], \
        "epoch 3 is not final before its checkpoint"

    again = run_chain(tiny_shards, cfg, run_dir=run_dir, experiment="t", plan=ChainPlan(stages=[]))
    assert again.resumed and again.stage_runs["pretrain"] == pre.info.run_id
    assert _histories(again.tracking_uri, again.stage_runs["pretrain"]) == expected
    client = MlflowClient(again.tracking_uri)
    runs = client.search_runs([again.experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}, "the parent and its pretraining"


@pytest.mark.slow
@pytest.mark.ray
def test_ray_worker_killed_between_checkpoints_leaves_one_value_per_epoch(ray_session, tiny_shards, tmp_path,
                                                                         monkeypatch):
    """Ray Train restarts the worker group from epoch 2's checkpoint; epoch 3 is trained twice but
    logged once, with the uninterrupted value; the worker's resume copy of the checkpoint is gone."""
    cfg = load_config("smoke", [*SMALL, "resources.num_workers=1", "resources.max_failures=1"])
    expected = _uninterrupted(cfg, tiny_shards)
    monkeypatch.setattr(train_ray, "_worker", CrashOnce(epoch=2, marker=str(tmp_path / "crashed-once")))
    before = set(glob.glob(RESUME_COPIES))
    res = run_chain(tiny_shards, cfg, run_dir=tmp_path / "ray", experiment="t", plan=ChainPlan(stages=[]))
    assert (tmp_path / "crashed-once").exists(), "the worker was killed once"
    got = _histories(res.tracking_uri, res.stage_runs["pretrain"])
    assert [s for s, _ in got[M.LOSS]] == [1, 2, 3, 4]
    for key in KEYS:
        assert [v for _, v in got[key]] == pytest.approx([v for _, v in expected[key]], rel=1e-5), key
    left = [d for d in set(glob.glob(RESUME_COPIES)) - before  # other runs on this machine may add theirs
            if Path(d, "config.json").is_file() and json.loads(Path(d, "config.json").read_text()) == to_flat_dict(cfg)]
    assert not left, "the worker's resume copy of the checkpoint is deleted"
