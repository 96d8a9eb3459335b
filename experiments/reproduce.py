"""Reproduce table rows: one chain per row, the paper's figure beside the measured one.

* A row's config is the profile, then the row's overrides, then the user's ``--set``.
* On the ``smoke`` profile without a dataset the row runs on the embedded synthetic dataset (its
  dataset and split are replaced; the printout says so, since the figure is then not comparable).
* ``reproduce_row`` measures and reports; it writes nothing into the repository. Keeping a figure
  is the explicit step ``record`` (``reproduce --record``) into the folder the caller names (the CLI's
  ``--results-dir``, by default this checkout): ``results/<row>-<profile>.csv`` and the README's
  tables regenerated from the results files, only for a run that read the row's own
  dataset and its test split (``eval.split=val`` figures are printed without a diff, never kept).
  The ``--set`` overrides of a recorded run are kept in its results file and shown beside the figure;
  ``--set seed=S`` repeats a row with another seed into a file of its own, and the README adds the mean.
* Rows that differ only in evaluation settings share one pretraining (``pipeline.chain``).
* Every self-supervised figure is printed beside its random-init control measured the same way
  (``control_line``): the control row of the same table and column, profile and seed, measured in the same
  command or kept in ``results/``; where neither exists the line says which command measures it.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from crossmoco.experiments.readme import RESULTS_PAGE, update_readme
from crossmoco.experiments.results import (
    DEFAULT_SEED,
    ResultsError,
    check_recorded_runs,
    describe_augment,
    kept_otherwise,
    load_results,
    recorded_tag,
    result_path,
    seed_free,
    write_predictions,
    write_result,
)
from crossmoco.experiments.rows import TableRow
from crossmoco.experiments.tables import control_of, get_row
from crossmoco.pipeline import tracking
from crossmoco.pipeline.chain import ChainLabels, run_chain
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import load_dataset
from crossmoco.pipeline.embedded import SYNTHETIC_OVERRIDES, ensure_synthetic_shards
from crossmoco.pipeline.provenance import git_sha
from crossmoco.training import metrics as M
from crossmoco.training.config import Config, apply_overrides

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    row: TableRow
    profile: str
    dataset: str  # the data the run read
    measured: float
    parent_run_id: str
    tracking_uri: str
    experiment_id: str
    commit: str  # the commit the chain ran (its MLflow tag)
    split: str = "test"  # eval.split: "val" figures read the training side's held-out performers
    overrides: tuple[str, ...] = ()  # the user's --set on top of the profile and the row; kept with the figure
    seed: int = 0  # Config.seed of the chain: another seed's figure is kept beside the default's, not over it
    predictions: str = ""  # the row's protocol stage's per-clip predictions (CSV), kept beside the figure
    augment: str = ""  # how the run made its two views (results.describe_augment), kept beside the figure

    @property
    def recordable(self) -> bool:
        """Comparable to the paper's figure, so it may be kept beside it: a run on the row's dataset that read
        its test split (a validation figure, ``eval.split=val``, is for choosing settings, never a row's result)."""
        return self.dataset == self.row.dataset and self.split == "test"

    @property
    def diff(self) -> float | None:
        return None if self.row.paper_value is None or not self.recordable else self.measured - self.row.paper_value

    def line(self) -> str:
        paper = "—" if self.row.paper_value is None else f"{self.row.paper_value:.1f}"
        diff = "" if self.diff is None else f"  diff {self.diff:+.1f}"
        note = ("" if self.recordable else f"  [on {self.dataset}: not comparable]" if self.dataset != self.row.dataset
                else "  [validation split: not comparable]")
        return (f"{self.row.row_id} ({self.row.method_name}, {self.row.column}): paper {paper}  "
                f"measured {self.measured:.1f}{diff}  MLflow run {self.parent_run_id}{note}")


def hardware() -> str:
    """The machine a figure was measured on."""
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    import os

    return f"{platform.machine()} {os.cpu_count()} cores{gpu}"


def row_metric(row: TableRow, cfg: Config) -> str:
    """The chain metric that holds a row's figure, e.g. linear_top1 or semi10_top1."""
    stage: str = row.protocol
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
    row_id: str, *, profile: str, data_dir: str | Path | None, run_dir: Path, overrides: list[str] = (),  # type: ignore[assignment]
    experiment: str | None = None,
) -> Outcome:
    """Run one row's chain and return the measured figure beside the paper's; writes nothing here."""
    row = get_row(row_id)
    if not row.runnable:
        raise ValueError(f"{row.row_id} is a figure the paper cites for another method: {row.note}")
    synthetic = data_dir is None
    if synthetic and profile != "smoke":
        raise ValueError(f"{row.row_id}: give the {row.dataset} shards (--data DIR); only the smoke profile "
                         "falls back to the embedded synthetic dataset")
    cfg = row_config(row, profile, list(overrides), synthetic)
    data = ensure_synthetic_shards(run_dir / "synthetic") if data_dir is None else data_dir
    # a mismatched dataset fails before anything runs; a URI's is copied into run_dir/data once
    opened = load_dataset(data, cfg, cache=Path(run_dir).resolve() / "data")
    result = run_chain(opened, cfg, run_dir=run_dir, experiment=experiment or f"table{row.table_number}",
                       labels=ChainLabels(row.row_id))
    metric = row_metric(row, cfg)
    measured = result.metrics[metric]
    store = tracking.Store(result.tracking_uri, result.experiment_id)
    commit = tracking.get_run(store, result.parent_run_id).tags.get(M.GIT_SHA, git_sha())
    predictions = result.predictions.get(metric.removesuffix("_" + M.TOP1), "")
    return Outcome(row, profile, cfg.data.dataset, measured, result.parent_run_id, result.tracking_uri,
                   result.experiment_id, commit, cfg.eval.split, tuple(overrides), cfg.seed, predictions,
                   describe_augment(cfg))


def regenerate(root: Path, tracking_uri: str = "") -> None:
    """The results page's tables (docs/results.md) and the claims' generated blocks (README.md, docs/claims.md)
    from ``<root>/results``; first, each figure that the store at ``tracking_uri`` recorded is held to its run
    there (``check_recorded_runs``: a ``ResultsError``, nothing written)."""
    from crossmoco.experiments.claims import judge_all
    from crossmoco.experiments.claims_report import write_claims

    if tracking_uri:
        check_recorded_runs(load_results(root), tracking_uri)
    readme = root / RESULTS_PAGE
    if readme.is_file():
        update_readme(readme, root=root)
    write_claims(root, judge_all(root))


def record(outcome: Outcome, root: Path, *, replace: bool = False, regenerate_docs: bool = True) -> Path:
    """Keep a measured figure: ``<root>/results/<row>-<profile>.csv`` (``...-seed<S>.csv`` for a seed other than
    the default) with its per-clip predictions, then regenerate the tables of
    ``<root>/README.md`` and the claims' blocks from the results files (``regenerate``). Returns the results
    file. A kept figure of the same row, profile and seed measured with other ``--set`` overrides is only replaced
    with ``replace`` (``results.kept_otherwise``; the CLI checks before it runs anything)."""
    if outcome.dataset != outcome.row.dataset:
        raise ValueError(f"{outcome.row.row_id}: the run read {outcome.dataset}, not the row's {outcome.row.dataset}; "
                         "only a run on the row's own dataset is recorded")
    if not outcome.recordable:
        raise ValueError(f"{outcome.row.row_id}: a {outcome.split}-split figure is for choosing settings; only a "
                         "run that reads the test split is recorded")
    root = Path(root)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = write_result(root, outcome.row, outcome.profile, outcome.measured, dataset=outcome.dataset,
                        hardware=hardware(), commit=outcome.commit, mlflow_run_id=outcome.parent_run_id,
                        overrides=outcome.overrides, seed=outcome.seed, augment=outcome.augment, date=date,
                        replace=replace)
    kept = {"row_id": outcome.row.row_id, "profile": outcome.profile, "seed": outcome.seed, "date": date}
    store = tracking.Store(outcome.tracking_uri, outcome.experiment_id)
    if tracking.store_exists(store.uri) and tracking.run_exists(store, outcome.parent_run_id):  # always, but doubles
        tracking.set_tags(store, outcome.parent_run_id, dict([recorded_tag(kept)]))  # its own figures, told apart
    if outcome.predictions:
        write_predictions(root, outcome.row.row_id, outcome.profile, outcome.seed, outcome.predictions)
    if regenerate_docs:  # a grid keeping many figures regenerates once, at its end
        regenerate(root, outcome.tracking_uri)
    log.info("recorded %s in %s", outcome.row.row_id, path)
    return path


def record_refusal(row_id: str, profile: str, seed: int, overrides: list[str], root: Path) -> str | None:
    """Why ``record`` would refuse a figure of ``row_id`` measured with ``overrides`` into ``root`` (None: it
    would keep it), asked before a chain runs for an hour."""
    return kept_otherwise(Path(root), row_id, profile, seed, overrides)


def control_line(outcome: Outcome, measured_now: Mapping[str, Outcome] | None = None, *, root: Path) -> str | None:
    """One line with ``outcome``'s random-init control beside it: the control row (``tables.control_of``) measured
    with the same profile and seed, taken from this command's outcomes (``measured_now``, by row id) or else from
    ``<root>/results/``, with the gap in points. Where none is at hand, the line gives
    the command that measures it. None for a figure that is not comparable (validation split, another dataset),
    for a control itself, and for rows without a control (Tables I-IV, VII). A kept control run with other
    ``--set`` overrides than ``outcome``'s (the seed aside) is shown with them, since it was not measured the
    same way."""
    control = control_of(outcome.row)
    if control is None or not outcome.recordable:
        return None
    now = (measured_now or {}).get(control.row_id)
    if now is not None and now.recordable and now.profile == outcome.profile and now.seed == outcome.seed:
        figure, source, overrides = now.measured, f"this command, MLflow run {now.parent_run_id}", now.overrides
    else:
        try:
            records = load_results(Path(root))
        except ResultsError as e:  # the figure just measured is printed and kept whatever a results file holds
            return f"  random-init control: not read, {e}"
        kept = [r for r in records if r["row_id"] == control.row_id and r["profile"] == outcome.profile
                and (r["seed"] if r["seed"] is not None else DEFAULT_SEED) == outcome.seed]
        if not kept:
            seed = "" if outcome.seed == DEFAULT_SEED else f" --set seed={outcome.seed}"
            return (f"  random-init control: none measured for profile {outcome.profile}, seed {outcome.seed}; "
                    f"measure it the same way: python -m crossmoco reproduce {control.row_id} --profile "
                    f"{outcome.profile} --data <the same data>{seed}")
        (rec,) = kept  # one file per row, profile and seed
        path = result_path(Path("."), control.row_id, outcome.profile, rec["seed"])
        figure, overrides = rec["measured"], rec["overrides"]
        source = f"{path}, commit {rec['commit'][:7]}, MLflow run {rec['mlflow_run_id']}"
    other, ours = seed_free(overrides), seed_free(outcome.overrides)
    differs = ""
    if overrides is None and ours:  # kept before overrides were recorded
        differs = f"; the control's --set was not recorded, this row ran with {', '.join(ours)}"
    elif overrides is not None and other != ours:
        differs = f"; the control ran with {', '.join(other) or 'no --set'}, this row with {', '.join(ours) or 'none'}"
    return (f"  random-init control {control.row_id} (profile {outcome.profile}, seed {outcome.seed}): "
            f"{figure:.1f}, gap {outcome.measured - figure:+.1f} points ({source}{differs})")


def check_request(row_ids: Sequence[str], profile: str, cfg: Config, overrides: Sequence[str], *,
                  record_to: Path | None, replace: bool) -> None:
    """Refuse before anything runs (a ``ValueError`` or ``KeyError`` saying why): an unknown row, one the
    paper cites for another method, a validation-split figure to keep, or a kept figure of a row measured
    with other ``--set`` overrides (``record_refusal``) without ``replace``; ``cfg`` is the profile plus
    ``overrides``, ``record_to`` the results folder figures are kept in (None: nothing is kept)."""
    if record_to is not None and cfg.eval.split != "test":
        raise ValueError(f"--record keeps test-split figures only; eval.split={cfg.eval.split} is for choosing "
                         "settings")
    for row_id in row_ids:
        if not get_row(row_id).runnable:
            raise ValueError(f"{row_id} is a figure the paper cites for another method; it does not run here")
        if record_to is not None and not replace and (
                why := record_refusal(row_id, profile, cfg.seed, list(overrides), record_to)):
            raise FileExistsError(why)


def reproduce_rows(
    row_ids: Sequence[str], *, profile: str, data_dir: str | Path | None, run_dir: Path, overrides: Sequence[str],
    experiment: str | None, results_dir: Path, keep: bool, replace: bool,
) -> Iterator[str]:
    """Run each row's chain, controls first (a row's figure prints beside its control's), and yield the lines to
    print: the paper's figure beside the measured one, where it was kept (``keep``: ``record`` into
    ``results_dir``), the random-init control beside it (from this run or ``results_dir``), the MLflow UI."""
    measured: dict[str, Outcome] = {}
    outcome = None
    for row_id in sorted(row_ids, key=lambda r: not get_row(r).is_control):
        outcome = reproduce_row(row_id, profile=profile, data_dir=data_dir, run_dir=run_dir,
                                overrides=list(overrides), experiment=experiment)
        yield outcome.line()
        measured[outcome.row.row_id] = outcome
        if keep and outcome.recordable:
            yield f"  recorded in {record(outcome, results_dir, replace=replace)} (README tables regenerated)"
        elif outcome.recordable:
            yield "  not recorded: add --record to keep it in results/ and the README tables"
        if (beside := control_line(outcome, measured, root=results_dir)) is not None:
            yield beside
    if outcome is not None:
        yield tracking.ui_hint(outcome.tracking_uri, outcome.experiment_id)
