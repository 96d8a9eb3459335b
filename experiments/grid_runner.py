"""``python -m pipeline grid``: build the trials, run them on Ray Tune, print and log the summary."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from experiments.grids import fe_below_le, log_summary, markdown, over_trials, summarize, table_trials
from experiments.tables import rows_of
from pipeline import tracking
from pipeline.config import config_hash, load_config
from pipeline.data import load_dataset
from pipeline.embedded import SYNTHETIC_OVERRIDES, ensure_synthetic_shards
from pipeline.grid import TrialOutcome, run_grid
from pipeline.train_ray import ray_init_local

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridSummary:
    """What ``grid`` prints (the Markdown summary and the MLflow UI command) and each trial's outcome."""

    text: str
    outcomes: list[TrialOutcome]

    def of(self, status: str) -> list[TrialOutcome]:
        return [o for o in self.outcomes if o.status == status]


def run_table_or_over(
    table: str | None, over: list[str], *, profile: str, data_dir: str | Path | None, overrides: list[str],
    name: str | None, resume: bool, run_dir: Path,
) -> GridSummary:
    """Run the grid; returns the printed summary (Markdown), the MLflow UI command and the outcomes.
    The summary run ends FINISHED only if every trial finished (FAILED if one failed, else KILLED)."""
    run_dir = Path(run_dir).resolve()
    synthetic = data_dir is None
    if synthetic and profile != "smoke":
        raise ValueError("give the dataset's shards with --data; only the smoke profile falls back to synthetic data")
    if table is not None:
        table_rows = rows_of(table)
        trials = table_trials(table, profile, overrides, synthetic)
        experiment = f"table{table_rows[0].table_number}"
        grid_name = name or f"{experiment}-{profile}"
    else:
        base = load_config(profile, [*(SYNTHETIC_OVERRIDES if synthetic else ()), *overrides])
        trials = over_trials(base, over)
        experiment = grid_name = name or "grid-" + "-".join(o.split("=")[0].split(".")[-1] for o in over)
    digest = hashlib.sha256("|".join(config_hash(t.config) for t in trials).encode()).hexdigest()[:8]
    grid_name = f"{grid_name}-{digest}"  # a changed config is a new grid; --resume continues the same one
    data = ensure_synthetic_shards(run_dir / "synthetic") if data_dir is None else data_dir
    for t in trials:  # every trial's dataset is checked (a URI's copied into run_dir/data) before Ray starts
        load_dataset(data, t.config, cache=run_dir / "data")
    ray_init_local()
    outcomes = run_grid(trials, data, run_dir=run_dir, name=grid_name, experiment=experiment, resume=resume)
    rows = summarize(trials, outcomes)
    text = markdown(rows, f"{grid_name} ({profile} profile"
                    + (", synthetic data: not comparable to the paper)" if synthetic else ")"))
    text += fe_below_le(rows, profile)
    statuses = {o.status for o in outcomes}
    status = "FAILED" if "failed" in statuses else "KILLED" if statuses - {"finished"} else "FINISHED"
    run_id = log_summary(run_dir, experiment, grid_name, text, status)
    store = tracking.init_store(tracking.default_uri(run_dir), experiment)
    text += f"\nSummary logged to MLflow run {run_id}\n{tracking.ui_hint(store.uri, store.experiment_id)}\n"
    for o in outcomes:
        if o.status != "finished":
            text += f"{o.status.upper()} trial {o.name}" + (f": {o.error}" if o.error else "") + "\n"
    return GridSummary(text, outcomes)


