"""Reproduce table rows: one chain per row, the paper's figure beside the measured one.

* A row's config is the profile, then the row's overrides, then the user's ``--set``.
* On the ``smoke`` profile without a dataset the row runs on the embedded synthetic dataset (its
  dataset and split are replaced; the printout says so, since the figure is then not comparable).
* A measured figure is written to ``results/<row>-<profile>.csv`` only when the run read the
  row's own dataset, and the README's tables are regenerated from the results files.
* Rows that differ only in evaluation settings share one pretraining (``pipeline.chain``).
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from experiments.readme import update_readme
from experiments.results import write_result
from experiments.rows import TableRow
from experiments.tables import get_row
from pipeline import metrics as M
from pipeline import tracking
from pipeline.chain import git_sha, run_chain
from pipeline.config import Config, apply_overrides, load_config
from pipeline.data import load_dataset
from pipeline.embedded import SYNTHETIC_OVERRIDES, ensure_synthetic_shards

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Outcome:
    row: TableRow
    profile: str
    dataset: str
    measured: float
    parent_run_id: str
    tracking_uri: str
    result_file: Path | None

    @property
    def diff(self) -> float | None:
        return None if self.row.paper_value is None else self.measured - self.row.paper_value

    def line(self) -> str:
        paper = "—" if self.row.paper_value is None else f"{self.row.paper_value:.1f}"
        diff = "" if self.diff is None else f"  diff {self.diff:+.1f}"
        note = "" if self.dataset == self.row.dataset else f"  [on {self.dataset}: not comparable]"
        return (f"{self.row.row_id} ({self.row.method_name}, {self.row.column}): paper {paper}  "
                f"measured {self.measured:.1f}{diff}  MLflow run {self.parent_run_id}{note}")


def hardware() -> str:
    """The machine a figure was measured on."""
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    import os

    return f"{platform.machine()} {os.cpu_count()} cores{gpu}"


def row_metric(row: TableRow, cfg: Config) -> str:
    """The chain metric that holds a row's figure, e.g. linear_top1 or semi10_top1."""
    stage = row.protocol
    if row.protocol == "semi":
        (fraction,) = cfg.eval.semi_fractions
        stage = M.semi_name(fraction)
    return M.protocol_metric(stage, M.TOP1)


def row_config(row: TableRow, profile: str, overrides: list[str], synthetic: bool) -> Config:
    cfg = row.config(load_config(profile))
    if synthetic:
        cfg = apply_overrides(cfg, SYNTHETIC_OVERRIDES)
    return apply_overrides(cfg, overrides)


def reproduce_row(
    row_id: str, *, profile: str, data_dir: Path | None, run_dir: Path, overrides: list[str] = (),  # type: ignore[assignment]
    results_dir: Path | None = None, update: bool = True,
) -> Outcome:
    """Run one row's chain and record its figure; see the module docstring."""
    row = get_row(row_id)
    if not row.runnable:
        raise ValueError(f"{row.row_id} is a figure the paper cites for another method: {row.note}")
    synthetic = data_dir is None
    if synthetic and profile != "smoke":
        raise ValueError(f"{row.row_id}: give the {row.dataset} shards (--data DIR); only the smoke profile "
                         "falls back to the embedded synthetic dataset")
    cfg = row_config(row, profile, list(overrides), synthetic)
    data = ensure_synthetic_shards(run_dir / "synthetic") if data_dir is None else Path(data_dir)
    load_dataset(data, cfg)  # a mismatched dataset fails before anything runs
    result = run_chain(data, cfg, run_dir=run_dir, experiment=f"table{row.table_number}", row_id=row.row_id)
    measured = result.metrics[row_metric(row, cfg)]
    written = None
    if cfg.data.dataset == row.dataset:
        root = results_dir if results_dir is not None else REPO_ROOT  # files go to <root>/results/
        store = tracking.Store(result.tracking_uri, result.experiment_id)
        commit = tracking.get_run(store, result.parent_run_id).data.tags.get("crossmoco.git_sha", git_sha())
        written = write_result(root, row, profile, measured, dataset=cfg.data.dataset, hardware=hardware(),
                               commit=commit, mlflow_run_id=result.parent_run_id)  # the commit the chain ran
        if update and results_dir is None:
            update_readme(REPO_ROOT / "README.md")
    return Outcome(row, profile, cfg.data.dataset, measured, result.parent_run_id, result.tracking_uri, written)
