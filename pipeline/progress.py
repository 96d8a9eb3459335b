"""Progress lines for the console: pretraining epochs as they reach MLflow.

Pretraining runs in Ray Train workers whose output stays out of the console (``pipeline.console``);
rank 0 logs each epoch's metrics to the stage's MLflow run, so the driver reads them back from
there, one line per epoch, while ``fit()`` runs. (A grid's trials: ``pipeline.grid.TrialLines``.)
"""

from __future__ import annotations

import logging
import threading
import time

from crossmoco.pipeline import tracking
from crossmoco.training import metrics as M

log = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class EpochLines:
    """While open, logs ``pretrain epoch k/n: loss x, y samples/s, ETA t`` for every epoch that reaches the
    MLflow run ``run_id`` (polled every ``every`` seconds, and once more on close)."""

    def __init__(self, store: tracking.Store, run_id: str, epochs: int, every: float = 2.0) -> None:
        self.store, self.run_id, self.epochs, self.every = store, run_id, epochs, every
        self._seen: set[int] = set()
        self._opened: float | None = None  # when the run started: the ETA is its pace so far
        self._before: int | None = None  # epochs done before this run (a resumed one starts later)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="epoch-lines", daemon=True)

    def __enter__(self) -> EpochLines:
        self._opened = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if exc[0] is None:
            self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.poll()
            except Exception as e:  # a busy store must never break the run it watches
                log.debug("epoch progress: %s", e)

    def poll(self) -> None:
        keys = [M.LOSS, M.SAMPLES_PER_S, M.KNN_MONITOR]
        rows = tracking.metric_rows(self.store, self.run_id, keys, step_key=M.EPOCH)
        new = [row for row in rows if int(row[M.EPOCH]) not in self._seen and M.LOSS in row]
        for row in new:
            step = int(row[M.EPOCH])
            self._seen.add(step)
            if self._before is None:
                self._before = step - 1
            speed = f", {row[M.SAMPLES_PER_S]:.0f} samples/s" if M.SAMPLES_PER_S in row else ""
            knn = f", kNN monitor {row[M.KNN_MONITOR]:.1f}%" if M.KNN_MONITOR in row else ""
            eta = self._eta(step) if row is new[-1] else ""  # epochs arrive with their checkpoint, in bursts
            log.info("pretrain epoch %d/%d: loss %.4f%s%s%s", step, self.epochs, row[M.LOSS], speed, knn, eta)

    def _eta(self, step: int) -> str:
        """``, ETA 35m05s``: the epochs left at this run's pace so far (start-up included); empty at the end."""
        done = step - (self._before or 0)
        if self._opened is None or done <= 0 or step >= self.epochs:
            return ""
        return f", ETA {duration((time.monotonic() - self._opened) / done * (self.epochs - step))}"
