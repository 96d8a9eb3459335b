"""In-process pretraining (``resources.num_workers=0``): the same loop, no Ray, one process.

Checkpoints go to ``<storage>/<name>/checkpoint_<epoch>/``; running again with the same name
resumes from the newest one, as the Ray path does. Metrics reach MLflow with their checkpoint
(``pipeline.metric_journal``), so a resumed run logs each epoch once.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import torch

from models.runtime import tune_allocator_
from pipeline import tracking
from pipeline.config import Config
from pipeline.data import load_dataset
from pipeline.engine import WorkerContext, run_pretraining
from pipeline.metric_journal import MetricJournal
from pipeline.monitor import make_knn_monitor

log = logging.getLogger(__name__)
_CKPT = re.compile(r"checkpoint_(\d+)$")


def latest_checkpoint(run_root: Path) -> Path | None:
    """The newest complete ``checkpoint_<epoch>`` directory under ``run_root``."""
    found = [(int(m.group(1)), p) for p in run_root.glob("checkpoint_*")
             if (m := _CKPT.search(p.name)) and (p / "state.pt").is_file()]
    return max(found)[1] if found else None


def pretrain_in_process(
    cfg: Config, data_dir: Path, *, storage: Path, name: str, tracking_uri: str = "", experiment_id: str = "",
    run_id: str = "",
) -> Path:
    """Pretrain in this process; returns the final checkpoint directory."""
    tune_allocator_()  # glibc's mmap threshold page-faults every large activation: +32% samples/s (bench_step)
    data = load_dataset(data_dir, cfg)
    x, y = data.arrays(data.eval_sides(cfg.eval.split)[0])
    run_root = Path(storage) / name
    run_root.mkdir(parents=True, exist_ok=True)
    resume_from = latest_checkpoint(run_root)
    journal = MetricJournal.resume(tracking.Store(tracking_uri, experiment_id), run_id, resume_from) if run_id else None

    def report(metrics: dict[str, float], ckpt: Path | None) -> None:
        if journal is not None:
            journal.add(metrics, ckpt)  # final, and logged, only with its checkpoint
        if ckpt is not None:
            final = run_root / f"checkpoint_{int(metrics['epoch']):05d}"
            shutil.rmtree(final, ignore_errors=True)
            ckpt.rename(final)
            if journal is not None:
                journal.flush()

    device = torch.device("cuda" if cfg.resources.use_gpu and torch.cuda.is_available() else "cpu")
    monitor = make_knn_monitor(cfg, data.arrays("fit"), data.arrays("val"), data.info, device)
    ctx = WorkerContext(device=device, report=report, resume_from=resume_from, checkpoint_dir=None, monitor=monitor)
    run_pretraining(cfg, x, data.info, ctx, y)
    final = latest_checkpoint(run_root)
    if final is None:
        raise RuntimeError(f"pretraining {name!r} wrote no checkpoint under {run_root}")
    return final
