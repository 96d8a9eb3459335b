"""In-process pretraining (``resources.num_workers=0``): the same worker body (``pipeline.worker``), no Ray.

Checkpoints go to ``<storage>/<name>/checkpoint_<epoch>/``; running again with the same name
resumes from the newest one, as the Ray path does. Metrics reach MLflow with their checkpoint
(``pipeline.metric_journal``), so a resumed run logs each epoch once.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from crossmoco.pipeline.pretraining import PretrainJob, PretrainResult
from crossmoco.pipeline.worker import pretrain_worker
from crossmoco.training.checkpoints import read_state
from crossmoco.training.engine import WorkerContext
from crossmoco.training.runtime import local_device

log = logging.getLogger(__name__)
_CKPT = re.compile(r"checkpoint_(\d+)$")


def latest_checkpoint(run_root: Path) -> Path | None:
    """The newest complete ``checkpoint_<epoch>`` directory under ``run_root``."""
    found = [(int(m.group(1)), p) for p in run_root.glob("checkpoint_*")
             if (m := _CKPT.search(p.name)) and (p / "state.pt").is_file()]
    return max(found)[1] if found else None


def pretrain_in_process(job: PretrainJob) -> PretrainResult:
    """Pretrain in this process; the final checkpoint stays in ``<storage>/<name>`` (this machine's
    dataset copy is the one ``job.data`` opened, so ``cache`` and ``data.source`` are not needed)."""
    run_root = Path(job.storage) / job.name
    run_root.mkdir(parents=True, exist_ok=True)

    def persist(metrics: dict[str, float], ckpt: Path | None) -> None:
        if ckpt is not None:
            final = run_root / f"checkpoint_{int(metrics['epoch']):05d}"
            shutil.rmtree(final, ignore_errors=True)
            ckpt.rename(final)

    cfg = job.cfg
    device = local_device(cfg.resources.use_gpu)
    place = WorkerContext(device=device, report=persist, resume_from=latest_checkpoint(run_root))
    summary = pretrain_worker(cfg, job.data, job.run, place)
    final = latest_checkpoint(run_root)
    if final is None:
        raise RuntimeError(f"pretraining {job.name!r} wrote no checkpoint under {run_root}")
    return PretrainResult(final, str(final), int(read_state(final)["epoch"]) + 1, str(run_root), summary.history)
