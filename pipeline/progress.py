"""Progress lines for the console: pretraining epochs as they reach MLflow.

Pretraining runs in Ray Train workers whose output stays out of the console (``pipeline.console``);
rank 0 logs each epoch's metrics to the stage's MLflow run, so the driver reads them back from
there, one line per epoch, while ``fit()`` runs. (A grid's trials: ``pipeline.grid.TrialLines``.)
"""

from __future__ import annotations

import logging
import threading

from pipeline import metrics as M
from pipeline import tracking

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
    """While open, logs ``pretrain epoch k/n: loss x, y samples/s`` for every epoch that reaches the
    MLflow run ``run_id`` (polled every ``every`` seconds, and once more on close)."""

    def __init__(self, store: tracking.Store, run_id: str, epochs: int, every: float = 2.0) -> None:
        self.store, self.run_id, self.epochs, self.every = store, run_id, epochs, every
        self._seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="epoch-lines", daemon=True)

    def __enter__(self) -> EpochLines:
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
        for row in tracking.metric_rows(self.store, self.run_id, keys, step_key=M.EPOCH):
            step = int(row[M.EPOCH])
            if step in self._seen or M.LOSS not in row:
                continue
            self._seen.add(step)
            speed = f", {row[M.SAMPLES_PER_S]:.0f} samples/s" if M.SAMPLES_PER_S in row else ""
            knn = f", kNN monitor {row[M.KNN_MONITOR]:.1f}%" if M.KNN_MONITOR in row else ""
            log.info("pretrain epoch %d/%d: loss %.4f%s%s", step, self.epochs, row[M.LOSS], speed, knn)
