"""``python -m crossmoco report TABLE``: paper vs measured from MLflow, as Markdown and a PNG chart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from crossmoco.datasets.atomic import write_text_atomic
from crossmoco.experiments.grids import SummaryRow, markdown
from crossmoco.experiments.reproduce import row_metric
from crossmoco.experiments.tables import TABLE_TITLES, rows_of
from crossmoco.pipeline import tracking
from crossmoco.pipeline.figures import save_png
from crossmoco.training import metrics as M
from crossmoco.training.config import from_flat_dict


@dataclass(frozen=True)
class Report:
    markdown: Path
    chart: Path
    rows: list[SummaryRow]
    mlflow_run_id: str


def measured_rows(store: tracking.Store, table: str) -> list[SummaryRow]:
    """Every row of ``table`` with the newest finished chain that covered it (or no measurement)."""
    chains = tracking.search_chains(store)
    out = []
    for row in rows_of(table):
        hit = next((c for c in chains if row.row_id in c.tags.get(M.ROW, "").split(",")), None)
        measured, run_id = None, ""
        if hit is not None:
            cfg = from_flat_dict(hit.params)
            measured = hit.metrics.get(row_metric(row, cfg))
            run_id = f"[{hit.run_id[:8]}]({tracking.run_url(store, hit.run_id)})"
        out.append(SummaryRow(row.row_id, f"{row.label} ({row.column})", row.paper_value, measured, run_id))
    return out


def chart(rows: list[SummaryRow], path: Path, title: str) -> Path:
    """Grouped bars: the paper's figure and the measured one for every row."""
    shown = [r for r in rows if r.paper is not None or r.measured is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(shown) + 2), 4.5))
    xs = range(len(shown))
    ax.bar([x - 0.2 for x in xs], [r.paper or 0 for r in shown], width=0.4, label="paper", color="#9ecae1")
    ax.bar([x + 0.2 for x in xs], [r.measured or 0 for r in shown], width=0.4, label="measured", color="#3182bd")
    ax.set_xticks(list(xs), [r.row_id.split("-", 1)[1] for r in shown], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return save_png(fig, path)


def report(table: str, run_dir: Path, out_dir: Path | None = None, experiment: str | None = None) -> Report:
    """Write ``table<n>.md`` and ``table<n>.png`` and log both to a ``report-table<n>`` MLflow run of
    ``experiment`` (default ``table<n>``). A run folder without an MLflow store, or without a finished chain of
    the table, is a ``FileNotFoundError`` and nothing is created."""
    first = rows_of(table)[0]
    experiment = experiment or f"table{first.table_number}"
    run_dir = Path(run_dir).resolve()
    uri = tracking.default_uri(run_dir)
    hint = "give the --run-dir of a grid or `reproduce`"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise FileNotFoundError(f"{run_dir}: no MLflow store (mlflow.db) here; {hint}")
    if not tracking.experiment_exists(uri, experiment):
        raise FileNotFoundError(f"{run_dir}: no MLflow experiment {experiment!r}; {hint} (or --experiment)")
    store = tracking.init_store(uri, experiment, artifact_root=run_dir / "artifacts")
    rows = measured_rows(store, table)
    if all(r.measured is None for r in rows):
        raise FileNotFoundError(f"{run_dir}: no finished run of Table {first.table} in experiment {experiment!r}; "
                                f"{hint}")
    title = f"Table {first.table}: {TABLE_TITLES.get(first.table, '')}".strip(": ")
    out = Path(out_dir) if out_dir is not None else run_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    md = out / f"{experiment}.md"
    write_text_atomic(md, markdown(rows, title))
    png = chart(rows, out / f"{experiment}.png", title)
    run_id = tracking.start_stage_free(store, f"report-{experiment}", {M.REPORT: experiment})
    tracking.log_artifact(store, run_id, md)
    tracking.log_artifact(store, run_id, png)
    tracking.end_run(store, run_id, "FINISHED")
    return Report(md, png, rows, run_id)
