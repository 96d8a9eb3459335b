"""Fault injection, for tests only: a pretraining that dies right after an epoch is reported.

Production code has no hook for this. ``crash_after`` wraps the worker body's ``run_pretraining``
so that the context's ``report`` (which logs the epoch, and persists its checkpoint) is followed
by the fault. ``CrashOnce`` does it inside Ray Train workers: a test puts it in place of
``pipeline.train_ray._worker``; Ray pickles it by reference, and the workers import this module
(``tests/support`` is on their ``PYTHONPATH``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossmoco.pipeline.worker
from crossmoco.pipeline import train_ray
from crossmoco.training import metrics as M

REAL_WORKER = train_ray._worker  # the function a test replaces


def crash_after(epoch: int, fault: Callable[[], None], rank: int = 0) -> Callable[..., Any]:
    """A ``run_pretraining`` that calls ``fault()`` on ``rank`` after reporting ``epoch`` (0-based)."""
    real = crossmoco.pipeline.worker.run_pretraining

    def run(cfg, x, info, ctx, y=None):
        def report(metrics: dict[str, float], ckpt: Path | None) -> None:
            ctx.report(metrics, ckpt)
            if ctx.rank == rank and int(metrics[M.EPOCH]) - 1 == epoch:
                fault()

        return real(cfg, x, info, dataclasses.replace(ctx, report=report), y)

    return run


@dataclass(frozen=True)
class CrashOnce:
    """A Ray Train worker function: rank 0 exits hard after reporting ``epoch`` (0-based), once
    (the ``marker`` file records that it did)."""

    epoch: int
    marker: str

    def __call__(self, loop: dict[str, Any]) -> dict[str, Any]:
        crossmoco.pipeline.worker.run_pretraining = crash_after(self.epoch, self._exit)  # this worker process only
        return REAL_WORKER(loop)

    def _exit(self) -> None:
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)


@dataclass(frozen=True)
class PlacementProbe:
    """A Ray Train worker function: every worker, when it starts, appends its rank's node id to
    ``folder/rank<r>.txt``, then runs the real worker (tests put it in place of ``train_ray._worker``)."""

    folder: str

    def __call__(self, loop: dict[str, Any]) -> dict[str, Any]:
        import ray
        import ray.train

        rank = ray.train.get_context().get_world_rank()
        with open(Path(self.folder) / f"rank{rank}.txt", "a") as f:
            f.write(ray.get_runtime_context().get_node_id() + "\n")
        return REAL_WORKER(loop)
