"""``python -m crossmoco grid``: build the trials, run them on Ray Tune, print and log the summary."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from crossmoco.experiments.grids import (
    fe_below_le,
    log_summary,
    markdown,
    over_trials,
    summarize,
    table_trials,
    target_rows,
)
from crossmoco.experiments.reproduce import Outcome, record, record_refusal, regenerate, row_config, row_metric
from crossmoco.experiments.results import DEFAULT_SEED, describe_augment
from crossmoco.experiments.tables import get_row
from crossmoco.pipeline import tracking
from crossmoco.pipeline.artifacts import NEAR_CHANCE, PREDICTIONS
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import load_dataset
from crossmoco.pipeline.embedded import SYNTHETIC_OVERRIDES, ensure_synthetic_shards
from crossmoco.pipeline.grid import TrialOutcome, TrialSpec, run_grid
from crossmoco.pipeline.train_ray import ray_init_local
from crossmoco.training import metrics as M
from crossmoco.training.config import config_hash

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
    name: str | None, resume: bool, run_dir: Path, seeds: tuple[int, ...] = (), record_to: Path | None = None,
    replace: bool = False, experiment: str | None = None,
) -> GridSummary:
    """Run the grid; returns the printed summary (Markdown), the MLflow UI command and the outcomes.
    The summary run ends FINISHED only if every trial finished (FAILED if one failed, else KILLED).
    ``table`` is a table, ``claims`` or row ids (``grids.target_rows``); ``seeds`` repeats every trial per seed;
    ``record_to`` keeps each finished row's figure in ``<record_to>/results/`` as ``reproduce --record`` does
    (refused before anything runs where a kept figure was measured another way, unless ``replace``); None keeps
    nothing."""
    run_dir = Path(run_dir).resolve()
    synthetic = data_dir is None
    if synthetic and profile != "smoke":
        raise ValueError("give the dataset's shards with --data; only the smoke profile falls back to synthetic data")
    if record_to is not None and (table is None or synthetic):
        raise ValueError("--record keeps figures of table rows measured on their own dataset: give a TABLE, "
                         "claims or row ids, and --data")
    if table is not None:
        _, default_experiment = target_rows(table, profile)
        trials = table_trials(table, profile, overrides, synthetic, seeds)
        if record_to is not None and not replace:
            refuse_kept_otherwise(trials, profile, overrides, record_to)
        grid_name = name or f"{default_experiment}-{profile}"
    else:
        base = load_config(profile, [*(SYNTHETIC_OVERRIDES if synthetic else ()), *overrides])
        trials = over_trials(base, [*over, *([f"seed={','.join(map(str, seeds))}"] if seeds else [])])
        grid_name = default_experiment = name or "grid-" + "-".join(o.split("=")[0].split(".")[-1] for o in over)
    experiment = experiment or default_experiment  # --experiment, else table<n> / claims / the grid's name
    digest = hashlib.sha256("|".join(config_hash(t.config) for t in trials).encode()).hexdigest()[:8]
    grid_name = f"{grid_name}-{digest}"  # a changed config is a new grid; --resume continues the same one
    data = ensure_synthetic_shards(run_dir / "synthetic") if data_dir is None else data_dir
    for t in trials:  # every trial's dataset is checked (a URI's copied into run_dir/data) before Ray starts
        load_dataset(data, t.config, cache=run_dir / "data")
    ray_init_local()
    outcomes = run_grid(trials, data, run_dir=run_dir, name=grid_name, experiment=experiment, resume=resume)
    rows = summarize(trials, outcomes)
    text = markdown(rows, f"{grid_name} ({profile} profile"
                    + (", synthetic data: not comparable to the paper)" if synthetic else ")"), context_only=synthetic)
    text += fe_below_le(rows, profile)
    text += near_chance_lines(outcomes)
    statuses = {o.status for o in outcomes}
    status = "FAILED" if "failed" in statuses else "KILLED" if statuses - {"finished"} else "FINISHED"
    run_id = log_summary(run_dir, experiment, grid_name, text, status)
    store = tracking.init_store(tracking.default_uri(run_dir), experiment)
    text += f"\nSummary logged to MLflow run {run_id}\n{tracking.ui_hint(store.uri, store.experiment_id)}\n"
    for o in outcomes:
        if o.status != "finished":
            text += f"{o.status.upper()} trial {o.name}" + (f": {o.error}" if o.error else "") + "\n"
    if record_to is not None:
        kept = record_trials(trials, outcomes, profile=profile, overrides=overrides, replace=replace,
                             store=store, root=record_to)
        if kept:
            text += f"\nrecorded {len(kept)} figures in {record_to / 'results'} (README tables regenerated)\n"
    return GridSummary(text, outcomes)


def near_chance_lines(outcomes: list[TrialOutcome]) -> str:
    """A line naming the trials whose pretraining loss stayed near chance (MLflow tag crossmoco.learning)."""
    near = [o.name for o in outcomes if o.metrics.get(M.LOSS_TO_CHANCE, 0.0) > NEAR_CHANCE]
    if not near:
        return ""
    return (f"\nPretraining barely moved in {len(near)} of {len(outcomes)} trials ({', '.join(near)}): every stream's "
            f"loss ended above {NEAR_CHANCE:.0%} of chance (tag {M.LEARNING}); figures of such encoders say "
            "little about the method.\n")


def _user_overrides(overrides: list[str], cfg_seed: int) -> tuple[str, ...]:
    """The ``--set`` a figure was measured with, as ``reproduce`` keeps them (another seed as ``seed=S``)."""
    seeded = [o for o in overrides if not o.startswith("seed=")]
    return (*seeded, *([f"seed={cfg_seed}"] if cfg_seed != DEFAULT_SEED else []))


def refuse_kept_otherwise(trials: list[TrialSpec], profile: str, overrides: list[str], root: Path) -> None:
    """Before a recording grid runs: a kept figure of one of its rows measured another way is an error."""
    for t in trials:
        for row_id in filter(None, t.row_id.split(",")):
            if why := record_refusal(row_id, profile, t.config.seed, list(_user_overrides(overrides, t.config.seed)),
                                     root):
                raise FileExistsError(why)


def record_trials(
    trials: list[TrialSpec], outcomes: list[TrialOutcome], *, profile: str, overrides: list[str], replace: bool,
    store: tracking.Store, root: Path,
) -> list[Path]:
    """Keep the figure of every row of every finished trial in ``<root>/results`` (``reproduce.record``), with its
    per-clip predictions read back from the protocol stage's MLflow run."""
    uri, experiment_id = store.uri, store.experiment_id
    by_name = {o.name: o for o in outcomes}
    kept = []
    for t in trials:
        o = by_name.get(t.name)
        if o is None or o.status != "finished":
            continue
        parent = tracking.get_run(store, o.parent_run_id)
        for row_id in filter(None, t.row_id.split(",")):
            row = get_row(row_id)
            cfg = row_config(row, profile, [*overrides, f"seed={t.config.seed}"], synthetic=False)
            metric = row_metric(row, cfg)
            stage = metric.removesuffix("_" + M.TOP1)
            found = tracking.find_stage(store, o.parent_run_id, stage)
            predictions = (tracking.read_text(store, found[0], PREDICTIONS) or "") if found else ""
            outcome = Outcome(row, profile, cfg.data.dataset, o.metrics[metric], o.parent_run_id, uri, experiment_id,
                              parent.tags.get(M.GIT_SHA, ""), cfg.eval.split, _user_overrides(overrides, cfg.seed),
                              cfg.seed, predictions, describe_augment(cfg))
            if outcome.recordable:
                kept.append(record(outcome, root, replace=replace, regenerate_docs=False))
    if kept:
        regenerate(root, uri)
    return kept


