"""One pretraining interface for both backends: a ``PretrainJob`` in, a ``PretrainResult`` out.

``pipeline.chain.pretrain(job)`` runs it in this process (``resources.num_workers=0``, ``pipeline.local``) or as a
Ray Train job (``pipeline.train_ray``); a chain, a test or a benchmark that brings its own backend
passes any ``PretrainBackend``. The MLflow run the epochs go to travels as one ``RunHandle``, from the
driver through Ray's loop config to the worker that logs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from crossmoco.training.config import Config
from crossmoco.training.dataset import LoadedDataset


@dataclass(frozen=True)
class RunHandle:
    """The MLflow run a pretraining logs its epochs into, as a worker on any node reopens it
    (plain strings: it pickles into Ray's loop config). No ``run_id``: nothing is logged."""

    tracking_uri: str = ""
    experiment_id: str = ""
    run_id: str = ""


@dataclass(frozen=True)
class PretrainJob:
    """What a backend needs to pretrain ``cfg``: the dataset as the driver opened and verified it
    (``data.stamp``: workers trust it; ``data.source``: the shared-storage folder a node without the
    copy fetches), the run that records it, and where its checkpoints live: ``<storage>/<name>``
    (a folder or a URI; the same name resumes). ``cache``: where a checkpoint on remote storage is
    copied for this process (default: the temporary folder)."""

    cfg: Config
    data: LoadedDataset
    run: RunHandle
    storage: str | Path
    name: str
    cache: Path | None = None


@dataclass(frozen=True)
class PretrainResult:
    checkpoint: Path  # the final checkpoint, a folder on this machine
    location: str  # the same checkpoint where other nodes read it (a URI or an absolute path)
    epochs_run: int
    storage: str  # the run's folder under the job's storage
    history: list[dict[str, float]] = field(default_factory=list)  # rank 0's per-epoch metrics of this run


class PretrainBackend(Protocol):
    def __call__(self, job: PretrainJob) -> PretrainResult: ...
