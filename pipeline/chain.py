"""A chain: pretraining, then the evaluation protocols, as one MLflow parent run with a child per stage.

* The parent run is keyed by (config hash, dataset manifest hash, table row): running the same
  chain again continues that parent. A stage whose child run FINISHED is not run again; an
  interrupted pretraining stage resumes its Ray Train run (same name, same storage) from the
  latest checkpoint, and keeps writing the same child run.
* A failed stage marks its child run and the parent FAILED, and the error names the stage; an
  interrupted one (Ctrl-C) marks them KILLED and raises ``ChainInterrupted``.
* Params of every run are the flat config; tags: table row, git SHA, config hash, dataset manifest
  hash, device (``pipeline.provenance``). Artifacts: the config as JSON, figures (PNG), the metric
  table, the checkpoint's location (``pipeline.artifacts``).

This module keeps the sequence of stages; MLflow is reached through ``pipeline.tracking`` only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crossmoco.pipeline import storage as shared
from crossmoco.pipeline import tracking
from crossmoco.pipeline.artifacts import (
    PREDICTIONS,
    learning_health,
    log_pretraining,
    log_protocol,
    loss_to_chance,
    near_chance_note,
    predictions_csv,
)
from crossmoco.pipeline.data import load_dataset
from crossmoco.pipeline.pretraining import PretrainBackend, PretrainJob, PretrainResult, RunHandle
from crossmoco.pipeline.progress import EpochLines, duration
from crossmoco.pipeline.provenance import chain_tags, pretrain_key
from crossmoco.pipeline.tracking import INTERRUPTS
from crossmoco.training import metrics as M
from crossmoco.training.config import Config, config_hash, to_flat_dict
from crossmoco.training.dataset import LoadedDataset
from crossmoco.training.precision import PrecisionChoice, log_choice, resolve_precision
from crossmoco.training.protocols import protocol_stages, run_protocol

log = logging.getLogger(__name__)


class StageError(RuntimeError):
    """A chain stage failed; ``stage`` names it."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"chain stage {stage!r} failed: {type(cause).__name__}: {cause}")
        self.stage = stage


class ChainInterrupted(KeyboardInterrupt):
    """The chain was interrupted during ``stage``; its runs are marked KILLED, and running the same
    chain again resumes it."""

    def __init__(self, stage: str) -> None:
        super().__init__(f"chain stage {stage!r} interrupted")
        self.stage = stage


def pretrain(job: PretrainJob) -> PretrainResult:
    """Pretrain where ``job.cfg.resources`` says: in this process without workers, else on Ray Train."""
    if job.cfg.resources.num_workers == 0:
        from crossmoco.pipeline.local import pretrain_in_process

        return pretrain_in_process(job)
    from crossmoco.pipeline.train_ray import pretrain_on_ray

    return pretrain_on_ray(job)


@dataclass
class ChainResult:
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    stage_runs: dict[str, str] = field(default_factory=dict)
    resumed: bool = False
    health: dict[str, float] = field(default_factory=dict)  # the pretraining's learning-health summary
    predictions: dict[str, str] = field(default_factory=dict)  # each protocol stage's per-clip predictions (CSV)


@dataclass(frozen=True)
class _Chain:
    """What every stage of one chain shares."""

    store: tracking.Store
    parent: str
    tags: dict[str, str]
    cfg: Config
    data: LoadedDataset
    precision: PrecisionChoice  # what pretrain.precision resolved to here, and why


@dataclass(frozen=True)
class ChainLabels:
    """How a chain's runs are found and shown: the table rows it measures (``row_id``, comma-separated;
    part of the parent's key), the parent run's ``name`` (default: the rows' common id), extra ``tags``,
    ``setting`` (short params, e.g. ``{"num_banks": "3"}``: what sets this chain apart in its grid) and
    ``paper`` (the paper's figure per metric: logged as ``<metric>_paper`` beside ``<metric>_diff``)."""

    row_id: str = ""
    name: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    setting: Mapping[str, str] = field(default_factory=dict)
    paper: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainPlan:
    """Which stages a chain runs: pretraining with ``backend`` (default ``pretrain``),
    or none on a given ``checkpoint``; then the evaluation ``stages`` (default: the configured protocols)."""

    stages: Sequence[str] | None = None
    checkpoint: Path | None = None
    backend: PretrainBackend | None = None


def run_chain(
    data_dir: str | Path | LoadedDataset, cfg: Config, *, run_dir: Path, experiment: str = "crossmoco",
    labels: ChainLabels = ChainLabels(), plan: ChainPlan = ChainPlan(), storage: str | None = None,
    tracking_uri: str | None = None,
) -> ChainResult:
    """Run (or resume) the chain for ``cfg`` on the shards in ``data_dir`` (a folder, a URI copied
    into ``run_dir/data``, or a dataset already opened); returns its metrics. Ray Train keeps its
    runs under ``storage`` (a folder or a URI; default ``$CROSSMOCO_STORAGE/ray``, else
    ``<run_dir>/ray``); MLflow is ``tracking_uri`` (default ``$MLFLOW_TRACKING_URI``, else SQLite in
    ``run_dir``). ``plan``: which stages run. ``labels``: what the runs table shows at a glance: ``name``
    (default: the rows' common id), ``setting`` (short params, e.g. ``{"num_banks": "3"}``: what sets this
    chain apart in its grid) and ``paper`` (the paper's figure per metric: logged as ``linear_paper`` beside
    ``linear_diff``, see ``beside_name``)."""
    row_id, checkpoint = labels.row_id, plan.checkpoint
    run_dir = Path(run_dir).resolve()
    cfg, precision = resolve_precision(cfg)  # before hashing: auto on native bf16 hashes as bf16 (training.precision)
    data = data_dir if isinstance(data_dir, LoadedDataset) else load_dataset(data_dir, cfg, cache=run_dir / "data")
    run_dir.mkdir(parents=True, exist_ok=True)
    store = tracking.init_store(tracking_uri or tracking.default_uri(run_dir), experiment,
                                artifact_root=run_dir / "artifacts")
    chash = config_hash(cfg)
    extra = dict(labels.tags)
    run_tags = {**chain_tags(cfg, data.info.data_hash, row_id), M.PRECISION: precision.describe()}
    key = f"{chash}-{data.info.data_hash}-{row_id or 'adhoc'}" + (f"-{checkpoint}" if checkpoint else "")
    parent, resumed = tracking.start_chain(store, labels.name or run_name(row_id, cfg), key, {**run_tags, **extra})
    if resumed and extra:
        tracking.set_tags(store, parent, extra)
    if not resumed:
        tracking.log_params(store, parent, {**to_flat_dict(cfg), **labels.setting})
        tracking.log_json(store, parent, to_flat_dict(cfg), "config.json")
    chain = _Chain(store, parent, run_tags, cfg, data, precision)
    result = ChainResult(parent, store.experiment_id, store.uri, None, resumed=resumed)
    stage = "pretrain"
    try:
        if checkpoint is not None:
            result.checkpoint = Path(checkpoint).resolve()
            tracking.set_tags(store, parent, {M.CHECKPOINT: str(result.checkpoint)})
        elif cfg.method != "random":  # the random-init control evaluates the seeded initial encoders
            # In-process pretraining is a one-machine run: its checkpoints stay in the run folder.
            where = (storage or shared.default_storage(run_dir, "ray")) if cfg.resources.num_workers else \
                shared.resolve(run_dir / "ray")
            result.checkpoint = _pretrain_stage(chain, run_dir, where, plan.backend, result)
        for stage in plan.stages if plan.stages is not None else protocol_stages(cfg):
            _eval_stage(chain, stage, result)
    except INTERRUPTS as e:
        tracking.end_run(store, parent, "KILLED")
        raise ChainInterrupted(stage) from e
    except BaseException as e:
        tracking.end_run(store, parent, "FAILED")
        raise StageError(stage, e) from e
    tracking.log_metrics(store, parent, {k: round(v, 2) for k, v in result.metrics.items()})  # as tables print them
    headline = [k for k in result.metrics if k.split("_", 1)[-1] == M.TOP1]
    beside = paper_metrics(result.metrics, labels.paper, diff=cfg.data.dataset != "synthetic")
    tracking.log_metrics(store, parent, beside)
    # The headline columns: the row's setting, then each protocol's top-1 in the protocols' order (not the
    # best-epoch figures), each followed by the paper's figure and the difference where the chain has one.
    tracking.show_columns(store, list(labels.setting), headline_columns(headline, beside))
    tracking.end_run(store, parent, "FINISHED")
    return result


PAPER, DIFF = "_paper", "_diff"  # linear_paper: the paper's figure of a chain's row; linear_diff: measured - paper


def beside_name(metric: str, suffix: str) -> str:
    """The name of the paper's figure (``suffix=PAPER``) or the difference (``DIFF``) beside ``metric``: a top-1
    drops its ``_top1`` (``linear_top1`` -> ``linear_paper``), so the MLflow runs table's 100-pixel headers show
    it whole (``finetune_top1_paper`` read ``finetune_top1_p`` there); any other metric keeps its name."""
    return metric.removesuffix(f"_{M.TOP1}") + suffix


def paper_metrics(measured: Mapping[str, float], paper: Mapping[str, float], diff: bool = True) -> dict[str, float]:
    """The paper's figure (``linear_paper``) and the difference (``linear_diff``) for each metric the chain
    measured and the paper prints; without ``diff`` (synthetic data: the paper's figure is context, not a target)
    the paper's figure alone."""
    out = {}
    for key, figure in paper.items():
        if key in measured:
            out[beside_name(key, PAPER)] = round(float(figure), 1)
            if diff:
                out[beside_name(key, DIFF)] = round(measured[key] - float(figure), 1)
    return out


def headline_columns(headline: list[str], beside: Mapping[str, float]) -> list[str]:
    """The runs table's metric columns: each headline metric, then its paper figure and difference where logged."""
    return [m for k in headline for m in (k, beside_name(k, PAPER), beside_name(k, DIFF)) if m == k or m in beside]


def run_name(row_id: str, cfg: Config) -> str:
    """A short readable parent run name: the rows' common id (``table3-banks3`` for its LE and FE rows), with the
    seed when it is not the default; else the method. The config hash is a tag, not part of the name."""
    ids = [i for i in row_id.split(",") if i]
    words = [i.split("-") for i in ids]
    shared_words = []  # the ids' common leading words
    for position in zip(*words, strict=False):
        if len(set(position)) > 1:
            break
        shared_words.append(position[0])
    common = "-".join(shared_words)
    if len(ids) > 1 and len(shared_words) < 2:  # rows of different settings or tables: the first, and how many more
        common = f"{ids[0]}+{len(ids) - 1}"
    base = common or cfg.method
    return base if cfg.seed == Config.seed else f"{base}-s{cfg.seed}"


def usable_checkpoint(tags: dict[str, str], cache: Path) -> Path | None:
    """A checkpoint folder on this machine for a finished pretraining run's tags: its local copy if
    this machine has it, else a fresh copy from its location on shared storage (another node's, or
    a node that is gone); None when neither exists."""
    ckpt = tags.get(M.CHECKPOINT)
    if ckpt and (Path(ckpt) / "state.pt").is_file():
        return Path(ckpt)
    location = tags.get(M.CHECKPOINT_LOCATION)
    if location and shared.is_file(shared.join(location, "state.pt")):
        from crossmoco.pipeline.train_ray import local_checkpoint

        return local_checkpoint(location, cache)
    return None


def _finished_pretraining(store: tracking.Store, key: str, cache: Path) -> tuple[str, Path, str] | None:
    """A FINISHED pretraining with this key anywhere in the store whose checkpoint still exists:
    (run id, local folder, location on storage)."""
    for run in tracking.find_finished(store, M.PRETRAIN_KEY, key):
        ckpt = usable_checkpoint(run.tags, cache)
        if ckpt is not None:
            return run.run_id, ckpt, run.tags.get(M.CHECKPOINT_LOCATION, str(ckpt))
    return None


def _pretrain_stage(chain: _Chain, run_dir: Path, storage: str, backend: PretrainBackend | None,
                    result: ChainResult) -> Path:
    store, cfg = chain.store, chain.cfg
    run_id, done = tracking.open_stage(store, chain.parent, "pretrain", chain.tags, to_flat_dict(cfg))
    result.stage_runs["pretrain"] = run_id
    cache = run_dir / "checkpoints"
    if done:
        run_tags = tracking.get_run(store, run_id).tags
        found = usable_checkpoint(run_tags, cache)
        if found is None:
            raise FileNotFoundError(f"the finished pretraining run {run_id} has no checkpoint left: "
                                    f"{run_tags.get(M.CHECKPOINT_LOCATION) or run_tags.get(M.CHECKPOINT)}")
        log.info("pretraining already finished (run %s): %s", run_id, found)
        return found
    with tracking.ending(store, run_id):
        key = pretrain_key(cfg, chain.data.info.data_hash)
        tracking.set_tags(store, run_id, {M.PRETRAIN_KEY: key})
        cached = _finished_pretraining(store, key, cache)
        if cached is not None:
            log.info("reusing the finished pretraining of run %s (same config and data): %s", *cached[:2])
            tracking.set_tags(store, run_id, {M.CHECKPOINT: str(cached[1]), M.CHECKPOINT_LOCATION: cached[2],
                                              M.REUSED_FROM: cached[0]})
            return cached[1]
        start = time.monotonic()
        where = f"{cfg.resources.num_workers} Ray Train workers" if cfg.resources.num_workers else "in this process"
        log_choice(chain.precision, f"pretrain: {cfg.pretrain.epochs} epochs of {cfg.method} on {cfg.data.dataset}/"
                                    f"{cfg.data.split}, {where}, in ", always=True)  # an ETA follows the 1st epoch
        job = PretrainJob(cfg, chain.data, RunHandle(store.uri, store.experiment_id, run_id), storage,
                          f"pretrain-{chain.parent}", cache)
        with EpochLines(store, run_id, cfg.pretrain.epochs):
            out = (backend or pretrain)(job)
        log.info("pretrain: done in %s", duration(time.monotonic() - start))
        log_pretraining(store, run_id, cfg, out.checkpoint, out.location)
        result.health = learning_health(store, run_id)
        if (ratio := loss_to_chance(result.health)) is not None:
            result.metrics[M.LOSS_TO_CHANCE] = round(ratio, 3)
        if note := near_chance_note(result.health):
            log.warning("pretrain: %s", note)
            for run in (run_id, chain.parent):
                tracking.set_tags(store, run, {M.LEARNING: "near chance"})
        return out.checkpoint


def _eval_stage(chain: _Chain, stage: str, result: ChainResult) -> None:
    store = chain.store
    run_id, done = tracking.open_stage(store, chain.parent, stage, chain.tags, to_flat_dict(chain.cfg))
    result.stage_runs[stage] = run_id
    if done:
        result.metrics.update({k: v for k, v in tracking.get_run(store, run_id).metrics.items()
                               if k.startswith(stage + "_")})
        if (kept := tracking.read_text(store, run_id, PREDICTIONS)) is not None:
            result.predictions[stage] = kept
        log.info("%s: finished before (run %s)", stage, run_id)
        return
    with tracking.ending(store, run_id):
        start = time.monotonic()
        res = run_protocol(stage, chain.cfg, chain.data, result.checkpoint)
        log_protocol(store, run_id, res, chain.cfg, chain.data)
        if res.predictions is not None and res.test_labels is not None:
            result.predictions[stage] = predictions_csv(res.test_labels, res.predictions)
        log.info("%s: top-1 %.1f%%, top-5 %.1f%% (%s)", stage, res.top1, res.top5, duration(time.monotonic() - start))
        result.metrics.update(res.metrics())


def summary_json(result: ChainResult) -> str:
    return json.dumps({"parent_run_id": result.parent_run_id, "metrics": result.metrics,
                       "pretraining_health": result.health,
                       "checkpoint": str(result.checkpoint) if result.checkpoint else None}, indent=2)
