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

import torch

from pipeline.config import Config
from pipeline.worker import pretrain_worker

log = logging.getLogger(__name__)
_CKPT = re.compile(r"checkpoint_(\d+)$")


def latest_checkpoint(run_root: Path) -> Path | None:
    """The newest complete ``checkpoint_<epoch>`` directory under ``run_root``."""
    found = [(int(m.group(1)), p) for p in run_root.glob("checkpoint_*")
             if (m := _CKPT.search(p.name)) and (p / "state.pt").is_file()]
    return max(found)[1] if found else None


def pretrain_in_process(
    cfg: Config, data_dir: Path, *, storage: Path, name: str, tracking_uri: str = "", experiment_id: str = "",
    run_id: str = "", verified: str = "",
) -> Path:
    """Pretrain in this process; returns the final checkpoint directory."""
    run_root = Path(storage) / name
    run_root.mkdir(parents=True, exist_ok=True)

    def persist(metrics: dict[str, float], ckpt: Path | None) -> None:
        if ckpt is not None:
            final = run_root / f"checkpoint_{int(metrics['epoch']):05d}"
            shutil.rmtree(final, ignore_errors=True)
            ckpt.rename(final)

    device = torch.device("cuda" if cfg.resources.use_gpu and torch.cuda.is_available() else "cpu")
    pretrain_worker(cfg, data_dir, persist=persist, resume_from=latest_checkpoint(run_root), device=device,
                    verified=verified, tracking_uri=tracking_uri, experiment_id=experiment_id, run_id=run_id)
    final = latest_checkpoint(run_root)
    if final is None:
        raise RuntimeError(f"pretraining {name!r} wrote no checkpoint under {run_root}")
    return final
