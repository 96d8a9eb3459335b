"""The plain-PyTorch pretraining loop (no Ray): sharding, schedules, reports, checkpoints, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossmoco.datasets.skeleton import ntu_layout
from crossmoco.pipeline.config_file import load_config
from crossmoco.training import metrics as M
from crossmoco.training.checkpoints import load_checkpoint, read_config, read_state
from crossmoco.training.engine import WorkerContext, epoch_indices, run_pretraining
from crossmoco.training.modeling import DataInfo, build_pretrain_model
from crossmoco.training.schedule import crossed_at, key_momentum, learning_rate

INFO = DataInfo.of("synthetic", ntu_layout(), 4, "test")


def _data(n=24, t=8):
    return np.random.default_rng(0).normal(size=(n, 3, t, 25, 2)).astype(np.float32)


def _cfg(*extra):
    return load_config("smoke", ["pretrain.batch_size=8", "pretrain.epochs=2", *extra])


def test_epoch_indices_partition_a_seeded_permutation_over_ranks():
    parts = [epoch_indices(20, 3, 0, r, 2, 5) for r in range(2)]
    assert all(p.shape == (2, 5) for p in parts)
    flat = np.concatenate([p.ravel() for p in parts])
    assert len(set(flat)) == 20, "ranks must not share samples"
    assert not np.array_equal(epoch_indices(20, 3, 0, 0, 2, 5), epoch_indices(20, 4, 0, 0, 2, 5))
    np.testing.assert_array_equal(epoch_indices(20, 3, 0, 0, 2, 5), epoch_indices(20, 3, 0, 0, 2, 5))
    with pytest.raises(ValueError, match="cannot fill one batch"):
        epoch_indices(5, 0, 0, 0, 2, 4)


def test_learning_rate_schedules():
    cfg = load_config(None).optim
    assert learning_rate(cfg, 0, 300) == pytest.approx(0.1)
    assert learning_rate(cfg, 250, 300) == pytest.approx(0.01)  # SkeletonCLR step at 250
    cos = load_config(None, ["optim.schedule=cosine"]).optim
    assert learning_rate(cos, 0, 10) == pytest.approx(0.1) and learning_rate(cos, 5, 10) == pytest.approx(0.05)
    warm = load_config(None, ["optim.warmup_epochs=4"]).optim
    assert learning_rate(warm, 0, 10) == pytest.approx(0.025)


def test_key_momentum_schedules():
    assert key_momentum(0.999, 17, 300, "constant") == 0.999
    assert key_momentum(0.99, 0, 10, "cosine") == pytest.approx(0.99)
    assert key_momentum(0.99, 5, 10, "cosine") == pytest.approx(0.995)  # halfway: 1 - 0.01 * (1 + 0) / 2
    assert key_momentum(0.99, 10, 10, "cosine") == pytest.approx(1.0)


def test_schedules_move_within_an_epoch():
    """Schedules run per optimizer step: fractional epochs give intermediate values."""
    cos = load_config(None, ["optim.schedule=cosine"]).optim
    assert learning_rate(cos, 2.5, 10) == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.25)))
    warm = load_config(None, ["optim.warmup_epochs=2"]).optim
    assert learning_rate(warm, 0.5, 10, step=0.5) == pytest.approx(0.05)  # the step ending at epoch 1 of 2
    step = load_config(None).optim
    assert learning_rate(step, 249.9, 300) == pytest.approx(0.1)
    assert learning_rate(step, 250.0, 300) == pytest.approx(0.01)


def test_crossing_follows_the_config():
    cfg = _cfg("contrastive.cross_start_epoch=1")
    assert [crossed_at(cfg, e) for e in range(3)] == [False, True, True]
    assert not crossed_at(_cfg("contrastive.encoders=uncrossed"), 5)


def test_pretraining_reports_every_epoch_and_checkpoints(tmp_path):
    reports = []
    ctx = WorkerContext(report=lambda m, c: reports.append((m, c)))
    summary = run_pretraining(_cfg(), _data(), INFO, ctx)
    assert summary.epochs_run == 2 and len(reports) == 2
    for name in (M.LOSS, M.LR, M.MOMENTUM, M.SAMPLES_PER_S, M.EPOCH, "loss_joint", "loss_motion", "loss_bone",
                 M.LOSS_CHANCE, M.CROSSED):
        assert name in reports[0][0]
    row = reports[0][0]
    assert row[M.LOSS] == pytest.approx(sum(row[f"loss_{s}"] for s in ("joint", "motion", "bone")))  # a = b = c = 1
    assert all(c is not None for _, c in reports), "smoke checkpoints every epoch"
    assert read_state(summary.checkpoint)["epoch"] == 1
    assert read_config(summary.checkpoint) == _cfg()


def test_resume_continues_from_the_checkpoint_epoch():
    first = run_pretraining(_cfg(), _data(), INFO, WorkerContext())
    reports = []
    cfg = _cfg("pretrain.epochs=4")
    resumed = run_pretraining(cfg, _data(), INFO, WorkerContext(resume_from=first.checkpoint,
                                                              report=lambda m, c: reports.append(m)))
    assert [r[M.EPOCH] for r in reports] == [3.0, 4.0]
    assert resumed.epochs_run == 2 and read_state(resumed.checkpoint)["epoch"] == 3
    model = build_pretrain_model(cfg, INFO)
    assert load_checkpoint(resumed.checkpoint, model) == 3


def test_training_changes_queries_and_keys_and_fills_banks():
    cfg = _cfg("pretrain.epochs=1")
    torch.manual_seed(cfg.seed)
    before = build_pretrain_model(cfg, INFO).state_dict()
    summary = run_pretraining(cfg, _data(), INFO, WorkerContext())
    after = torch.load(summary.checkpoint / "state.pt", weights_only=True)["model"]
    changed = [k for k in before if before[k].dtype.is_floating_point and not torch.equal(before[k], after[k])]
    assert any("query" in k for k in changed) and any("key" in k for k in changed)
    assert any("bank" in k or "queue" in k for k in changed)


@pytest.mark.parametrize("order", ["per_stream", "joint_first"])
def test_augmentation_orders_both_train(order):
    """Each order's first-epoch loss of every stream sits near chance (``loss_chance``: a model that
    tells nothing apart); without augmentation the two orders are the same computation."""
    summary = run_pretraining(_cfg("pretrain.epochs=1", f"pretrain.augment_streams={order}"), _data(), INFO,
                              WorkerContext())
    row = summary.history[0]
    for stream in ("joint", "motion", "bone"):
        assert 0.5 * row[M.LOSS_CHANCE] < row[M.LOSS_PART_PREFIX + stream] < 1.5 * row[M.LOSS_CHANCE], stream
    plain = [run_pretraining(_cfg("pretrain.epochs=1", "augment.steps=none", f"pretrain.augment_streams={o}"),
                             _data(), INFO, WorkerContext()).final_loss for o in ("per_stream", "joint_first")]
    assert plain[0] == pytest.approx(plain[1], rel=1e-6)


def test_bf16_autocast_runs_on_cpu():
    """bf16 autocast computes the same epoch as fp32, to bf16's precision."""
    fp32 = run_pretraining(_cfg("pretrain.epochs=1"), _data(), INFO, WorkerContext())
    summary = run_pretraining(_cfg("pretrain.epochs=1", "pretrain.precision=bf16"), _data(), INFO, WorkerContext())
    assert np.isfinite(summary.final_loss)
    assert summary.final_loss == pytest.approx(fp32.final_loss, rel=0.03)


def test_knn_monitor_reports_every_n_epochs():
    from crossmoco.training.monitor import make_knn_monitor

    x = _data(40)
    y = np.arange(40) % 4
    cfg = _cfg("pretrain.epochs=3", "pretrain.knn_every=2")
    reports = []
    monitor = make_knn_monitor(cfg, (x[:30], y[:30]), (x[30:], y[30:]), INFO, torch.device("cpu"))
    ctx = WorkerContext(report=lambda m, c: reports.append(m), monitor=monitor)
    run_pretraining(cfg, x, INFO, ctx)
    assert M.KNN_MONITOR not in reports[0] and 0 <= reports[1][M.KNN_MONITOR] <= 100
    assert M.KNN_MONITOR in reports[2], "the last epoch is always monitored"
    assert make_knn_monitor(cfg, (x, y), (x[:0], y[:0]), INFO, torch.device("cpu")) is None


def test_supervised_control_trains_a_classifier_per_stream():
    x, y = _data(24), np.arange(24) % 4
    reports = []
    cfg = _cfg("method=supervised", "pretrain.epochs=1")
    summary = run_pretraining(cfg, x, INFO, WorkerContext(report=lambda m, c: reports.append(m)), y)
    assert {"loss_joint", "loss_motion", "loss_bone"} <= set(reports[0]) and M.LOSS_CHANCE not in reports[0]
    assert np.isfinite(summary.final_loss)
    # cross-entropy of 4 balanced classes from freshly initialised heads: near log(4) for every stream
    for stream in ("joint", "motion", "bone"):
        assert reports[0]["loss_" + stream] == pytest.approx(np.log(4), rel=0.25), stream
    with pytest.raises(ValueError, match="labels"):
        run_pretraining(cfg, x, INFO, WorkerContext())
    with pytest.raises(ValueError, match="never trained"):
        run_pretraining(_cfg("method=random"), x, INFO, WorkerContext())


def test_monitor_measures_the_random_init_reference_first():
    from crossmoco.training.monitor import make_knn_monitor

    x, y = _data(40), np.arange(40) % 4
    cfg = _cfg("pretrain.epochs=2", "pretrain.knn_every=1")
    calls, reports = [], []
    monitor = make_knn_monitor(cfg, (x[:30], y[:30]), (x[30:], y[30:]), INFO, torch.device("cpu"))

    def counted(model):
        calls.append(1)
        return monitor(model)

    run_pretraining(cfg, x, INFO, WorkerContext(report=lambda m, c: reports.append(m), monitor=counted))
    assert len(calls) == 3, "once on the initial encoders, then after each epoch"
    assert M.KNN_INIT in reports[0] and M.KNN_INIT not in reports[1]


def test_no_knn_monitor_where_it_would_read_trained_labels():
    from crossmoco.pipeline.worker import monitor_reads_unseen_labels

    # the test split pretrains on the whole training side, validation samples included
    assert not monitor_reads_unseen_labels(load_config(None, ["method=supervised", "eval.split=test"]))
    assert monitor_reads_unseen_labels(load_config(None, ["method=supervised", "eval.split=val"]))
    assert monitor_reads_unseen_labels(load_config(None, ["method=crossmoco", "eval.split=test"]))  # no labels
