"""The pretraining worker's body, one for both places it runs: this process
(``resources.num_workers=0``, ``pipeline.local``) and every Ray Train worker (``pipeline.train_ray``).

Each caller says only where it runs (a ``WorkerContext``: rank, world size, device, the DDP wrapper,
what it resumes from, and how a checkpoint is kept: renamed into the run folder, or reported to Ray).
The rest is here: the allocator tuning, the dataset (opened once, trusting the driver's
verification), the metric journal that logs an epoch with its checkpoint (rank 0), the kNN
monitor (rank 0) and the plain loop of ``training.engine``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from crossmoco.pipeline import tracking
from crossmoco.pipeline.data import load_dataset
from crossmoco.pipeline.metric_journal import MetricJournal
from crossmoco.pipeline.pretraining import RunHandle
from crossmoco.training.config import Config
from crossmoco.training.dataset import LoadedDataset
from crossmoco.training.engine import PretrainingDiverged, PretrainSummary, WorkerContext, run_pretraining
from crossmoco.training.monitor import make_knn_monitor
from crossmoco.training.runtime import tune_allocator_

log = logging.getLogger(__name__)


def pretrain_worker(cfg: Config, data: LoadedDataset, run: RunHandle, place: WorkerContext) -> PretrainSummary:
    """Pretrain ``cfg`` on this worker's part of ``data`` (reopened here, trusting the driver's
    verification); ``place`` says where this worker runs and how it keeps a checkpoint:
    ``place.report(metrics, checkpoint)`` persists every epoch (with its checkpoint directory every
    ``pretrain.checkpoint_every`` epochs), and rank 0 logs the epochs to MLflow run ``run`` once
    their checkpoint is persisted."""
    tune_allocator_()  # glibc's mmap threshold page-faults every large activation: +32% samples/s (bench_step)
    data = load_dataset(data.root, cfg, verified=data.stamp)
    x, y = data.arrays(data.eval_sides(cfg.eval.split)[0])
    rank, persist = place.rank, place.report
    journal = None
    if rank == 0 and run.run_id:
        journal = MetricJournal.resume(tracking.Store(run.tracking_uri, run.experiment_id), run.run_id,
                                       place.resume_from)

    def report(metrics: dict[str, float], ckpt: Path | None) -> None:
        if journal is not None:
            journal.add(metrics, ckpt)  # final, and logged, only with its checkpoint
        persist(metrics, ckpt)
        if ckpt is not None and journal is not None:
            journal.flush()

    monitor = None
    if rank == 0 and monitor_reads_unseen_labels(cfg):
        monitor = make_knn_monitor(cfg, data.arrays("fit"), data.arrays("val"), data.info, place.device)
    elif rank == 0 and cfg.pretrain.knn_every:
        log.info("kNN monitor off: %s pretraining on the whole training side trains on the validation "
                 "samples' labels, so the monitor would read them back (100%%)", cfg.method)
    ctx = dataclasses.replace(place, report=report, monitor=monitor)
    try:
        return run_pretraining(cfg, x, data.info, ctx, y)
    except PretrainingDiverged:
        if journal is not None:
            journal.flush()  # the finite epochs since the last checkpoint: what the run can still show
        raise


def monitor_reads_unseen_labels(cfg: Config) -> bool:
    """Whether the kNN monitor's queries (the training side's validation samples) carry labels the
    pretraining did not train on. A supervised run on the test split trains on the whole training side,
    validation samples included (a self-supervised one sees them too, without labels)."""
    return not (cfg.method == "supervised" and cfg.eval.split == "test")
