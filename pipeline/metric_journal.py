"""Per-epoch metrics become final with their checkpoint: one value per epoch, whatever was killed.

A resumable run trains the epochs after its last checkpoint again, so a metric logged as soon as
its epoch ends is logged twice (and, before this, with another value). Instead, rank 0 keeps the
run's rows (one per epoch) in a journal that travels inside every checkpoint (``metrics.json``
beside ``state.pt``) and logs them to MLflow only once that checkpoint is saved:

* killed between two checkpoints: the rows since the last one were never logged, and the resumed
  run, which starts from that checkpoint's journal, logs them when it saves the next;
* killed after a checkpoint was saved but before its rows were logged, or before Ray registered it
  (so those epochs are trained again, identically: see ``training.engine``): the resumed run logs
  only steps MLflow does not hold yet.
"""

from __future__ import annotations

import json
from pathlib import Path

from crossmoco.datasets.atomic import write_text_atomic
from crossmoco.pipeline import tracking
from crossmoco.training import metrics as M

JOURNAL_FILE = "metrics.json"


class MetricJournal:
    """The rows of one pretraining run, logged to ``run_id`` as their checkpoints are saved."""

    def __init__(self, store: tracking.Store, run_id: str, rows: list[dict[str, float]] | None = None) -> None:
        self.store, self.run_id = store, run_id
        self.rows: list[dict[str, float]] = list(rows or [])

    @classmethod
    def resume(cls, store: tracking.Store, run_id: str, checkpoint: Path | None) -> MetricJournal:
        """The journal of ``checkpoint`` (empty without one); its rows MLflow lacks are logged now."""
        path = Path(checkpoint) / JOURNAL_FILE if checkpoint is not None else None
        rows = json.loads(path.read_text()) if path is not None and path.is_file() else []
        journal = cls(store, run_id, rows)
        journal.flush()
        return journal

    def add(self, row: dict[str, float], checkpoint: Path | None) -> None:
        """Record an epoch's row; with the epoch's checkpoint directory (before it is persisted),
        write the journal into it."""
        self.rows.append(dict(row))
        if checkpoint is not None:
            write_text_atomic(Path(checkpoint) / JOURNAL_FILE, json.dumps(self.rows))

    def flush(self) -> None:
        """Log every row whose step MLflow does not hold yet (call once its checkpoint is saved)."""
        # by the epoch key, always finite: MLflow drops a non-finite value, so a NaN loss would read
        # as never logged, and every other key of its row would be logged again at the same step
        logged = tracking.logged_steps(self.store, self.run_id, M.EPOCH)
        for row in self.rows:
            step = int(row[M.EPOCH])
            if step not in logged:
                tracking.log_metrics(self.store, self.run_id, row, step=step)
                logged.add(step)
