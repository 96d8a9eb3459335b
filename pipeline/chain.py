"""A chain: pretraining, then the evaluation protocols, as one MLflow parent run with a child per stage.

* The parent run is keyed by (config hash, dataset manifest hash, table row): running the same
  chain again continues that parent. A stage whose child run FINISHED is not run again; an
  interrupted pretraining stage resumes its Ray Train run (same name, same storage) from the
  latest checkpoint, and keeps writing the same child run.
* A failed stage marks its child run and the parent FAILED, and the error names the stage; an
  interrupted one (Ctrl-C) marks them KILLED and raises ``ChainInterrupted``.
* Params of every run are the flat config; tags: table row, git SHA, config hash, dataset manifest
  hash, device. Artifacts: the config as JSON, figures (PNG), the metric table, the checkpoint's
  location.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipeline import metrics as M
from pipeline import storage as shared
from pipeline import tracking
from pipeline.checkpoints import load_checkpoint, read_state
from pipeline.config import Config, config_hash, to_flat_dict
from pipeline.data import LoadedDataset, load_dataset
from pipeline.evaluation import ProtocolResult, finetune_protocol, knn_protocol, linear_protocol, semi_protocol
from pipeline.figures import plot_confusion, plot_curves, plot_tsne
from pipeline.modeling import build_pretrain_model
from pipeline.progress import EpochLines, duration

log = logging.getLogger(__name__)
CHECKPOINT_TAG = "crossmoco.checkpoint"  # the local copy the chain evaluated
LOCATION_TAG = "crossmoco.checkpoint_location"  # the checkpoint on Ray's storage (a URI on a cluster)
PRETRAIN_KEY_TAG = "crossmoco.pretrain_key"
REUSED_TAG = "crossmoco.reused_from"


def pretrain_key(cfg: Config, data_hash: str) -> str:
    """Identity of a pretraining: every config value except the evaluation section (but ``eval.split``,
    which decides the pretraining samples), and the data.
    Chains that differ only in ``eval.*`` (e.g. Table V's linear row and Table VI's 1% / 10% rows
    on the same dataset) share one pretraining."""
    flat = {k: v for k, v in to_flat_dict(cfg).items() if not k.startswith("eval.") or k == "eval.split"}
    blob = json.dumps({"config": flat, "data": data_hash}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def usable_checkpoint(tags: dict[str, str], cache: Path) -> Path | None:
    """A checkpoint folder on this machine for a finished pretraining run's tags: its local copy if
    this machine has it, else a fresh copy from its location on shared storage (another node's, or
    a node that is gone); None when neither exists."""
    ckpt = tags.get(CHECKPOINT_TAG)
    if ckpt and (Path(ckpt) / "state.pt").is_file():
        return Path(ckpt)
    location = tags.get(LOCATION_TAG)
    if location and shared.is_file(shared.join(location, "state.pt")):
        from pipeline.train_ray import local_checkpoint

        return local_checkpoint(location, cache)
    return None


def _finished_pretraining(store, key: str, cache: Path) -> tuple[str, Path, str] | None:
    """A FINISHED pretraining with this key anywhere in the store whose checkpoint still exists:
    (run id, local folder, location on storage)."""
    experiments = [e.experiment_id for e in store.client.search_experiments()]
    runs = store.client.search_runs(
        experiments, filter_string=f"tags.`{PRETRAIN_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.end_time DESC"],
    )
    for run in runs:
        ckpt = usable_checkpoint(run.data.tags, cache)
        if ckpt is not None:
            return run.info.run_id, ckpt, run.data.tags.get(LOCATION_TAG, str(ckpt))
    return None


class StageError(RuntimeError):
    """A chain stage failed; ``stage`` names it."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"chain stage {stage!r} failed: {type(cause).__name__}: {cause}")
        self.stage = stage


# Ctrl-C: a KeyboardInterrupt, or the SystemExit that Ray Train's SIGINT handler ends a fit with.
INTERRUPTS = (KeyboardInterrupt, SystemExit)


class ChainInterrupted(KeyboardInterrupt):
    """The chain was interrupted during ``stage``; its runs are marked KILLED, and running the same
    chain again resumes it."""

    def __init__(self, stage: str) -> None:
        super().__init__(f"chain stage {stage!r} interrupted")
        self.stage = stage


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


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """The commit this process runs, read once (at its first chain): a long-lived driver keeps the
    code it imported, whatever the checkout moves to later. ``-dirty`` marks uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=here)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "."], capture_output=True, timeout=10,
                               cwd=here.parent).returncode == 1
        return (sha.stdout.strip() or "unknown") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(cfg: Config) -> str:
    if cfg.resources.use_gpu and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "cpu"


def protocol_stages(cfg: Config) -> list[str]:
    """Stage names of the configured protocols: 'semi' expands to one stage per label fraction."""
    out: list[str] = []
    for p in cfg.eval.protocols:
        out.extend(M.semi_name(f) for f in cfg.eval.semi_fractions) if p == "semi" else out.append(p)
    return out


def run_chain(
    data_dir: Path, cfg: Config, *, run_dir: Path, experiment: str = "crossmoco", row_id: str = "",
    pretrain_fn: Callable[..., Path] | None = None, stages: list[str] | None = None,
    checkpoint: Path | None = None, tags: dict[str, str] | None = None, storage: str | None = None,
    tracking_uri: str | None = None,
) -> ChainResult:
    """Run (or resume) the chain for ``cfg`` on the shards in ``data_dir``; returns its metrics.
    Ray Train keeps its runs under ``storage`` (a folder or a URI; default ``$CROSSMOCO_STORAGE/ray``,
    else ``<run_dir>/ray``); MLflow is ``tracking_uri`` (default ``$MLFLOW_TRACKING_URI``, else SQLite
    in ``run_dir``)."""
    data = load_dataset(data_dir, cfg)  # a missing or mismatched dataset fails here, before Ray
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    store = tracking.init_store(tracking_uri or tracking.default_uri(run_dir), experiment,
                                artifact_root=run_dir / "artifacts")
    chash = config_hash(cfg)
    extra = dict(tags or {})
    tags = {"crossmoco.row": row_id, "crossmoco.git_sha": git_sha(), "crossmoco.config_hash": chash,
            "crossmoco.data_hash": data.info.data_hash, "crossmoco.device": device_name(cfg),
            "crossmoco.dataset": f"{cfg.data.dataset}/{cfg.data.split}"}
    key = f"{chash}-{data.info.data_hash}-{row_id or 'adhoc'}" + (f"-{checkpoint}" if checkpoint else "")
    name = f"{row_id or cfg.method}-{chash}"
    parent, resumed = tracking.start_chain(store, name, key, {**tags, **extra})
    if resumed and extra:
        tracking.set_tags(store, parent, extra)
    if not resumed:
        tracking.log_params(store, parent, to_flat_dict(cfg))
        tracking.log_json(store, parent, to_flat_dict(cfg), "config.json")
    result = ChainResult(parent, store.experiment_id, store.uri, None, resumed=resumed)
    stage = "pretrain"
    try:
        if checkpoint is not None:
            result.checkpoint = Path(checkpoint).resolve()
            tracking.set_tags(store, parent, {CHECKPOINT_TAG: str(result.checkpoint)})
        elif cfg.method != "random":  # the random-init control evaluates the seeded initial encoders
            # In-process pretraining is a one-machine run: its checkpoints stay in the run folder.
            where = (storage or shared.default_storage(run_dir, "ray")) if cfg.resources.num_workers else \
                shared.resolve(run_dir / "ray")
            result.checkpoint = _pretrain_stage(store, parent, tags, cfg, data, run_dir, where, pretrain_fn, result)
        for stage in stages if stages is not None else protocol_stages(cfg):
            _eval_stage(store, parent, tags, cfg, data, stage, result)
    except INTERRUPTS as e:
        tracking.end_run(store, parent, "KILLED")
        raise ChainInterrupted(stage) from e
    except BaseException as e:
        tracking.end_run(store, parent, "FAILED")
        raise StageError(stage, e) from e
    tracking.log_metrics(store, parent, {k: round(v, 2) for k, v in result.metrics.items()})  # as tables print them
    # The headline columns: each protocol's top-1 in the protocols' order (not the best-epoch figures).
    tracking.show_metrics(store, [k for k in result.metrics if k.split("_", 1)[-1] == M.TOP1])
    tracking.end_run(store, parent, "FINISHED")
    return result


def _open_stage(store, parent, stage, tags, cfg) -> tuple[str, bool]:
    """(run id, already finished) of a stage: an existing child run is reused, never duplicated."""
    found = tracking.find_stage(store, parent, stage)
    if found is not None:
        run_id, status = found
        if status == "FINISHED":
            return run_id, True
        store.client.update_run(run_id, status="RUNNING")
        return run_id, False
    run_id = tracking.start_stage(store, parent, stage, tags)
    tracking.log_params(store, run_id, to_flat_dict(cfg))
    return run_id, False


def _pretrain_stage(store, parent, tags, cfg, data: LoadedDataset, run_dir, storage: str, pretrain_fn,
                    result) -> Path:
    run_id, done = _open_stage(store, parent, "pretrain", tags, cfg)
    result.stage_runs["pretrain"] = run_id
    cache = run_dir / "checkpoints"
    if done:
        run_tags = tracking.get_run(store, run_id).data.tags
        found = usable_checkpoint(run_tags, cache)
        if found is None:
            raise FileNotFoundError(f"the finished pretraining run {run_id} has no checkpoint left: "
                                    f"{run_tags.get(LOCATION_TAG) or run_tags.get(CHECKPOINT_TAG)}")
        log.info("pretraining already finished (run %s): %s", run_id, found)
        return found
    key = pretrain_key(cfg, data.info.data_hash)
    tracking.set_tags(store, run_id, {PRETRAIN_KEY_TAG: key})
    cached = _finished_pretraining(store, key, cache)
    if cached is not None:
        log.info("reusing the finished pretraining of run %s (same config and data): %s", *cached[:2])
        tracking.set_tags(store, run_id, {CHECKPOINT_TAG: str(cached[1]), LOCATION_TAG: cached[2],
                                          REUSED_TAG: cached[0]})
        tracking.end_run(store, run_id, "FINISHED")
        return cached[1]
    try:
        fn = pretrain_fn or _default_pretrain
        start = time.monotonic()
        log.info("pretrain: %d epochs of %s on %s/%s, %s", cfg.pretrain.epochs, cfg.method, cfg.data.dataset,
                 cfg.data.split, f"{cfg.resources.num_workers} Ray Train workers" if cfg.resources.num_workers
                 else "in this process")
        with EpochLines(store, run_id, cfg.pretrain.epochs):
            out = fn(cfg, data.root, storage=storage, name=f"pretrain-{parent}",
                     tracking_uri=store.uri, experiment_id=store.experiment_id, run_id=run_id, cache=cache)
        # A pretrain function returns the local checkpoint folder, or an object with it (``checkpoint``)
        # and its location on storage (``location``), as ``pretrain_on_ray`` does.
        ckpt = Path(getattr(out, "checkpoint", out))
        location = str(getattr(out, "location", ckpt))
        log.info("pretrain: done in %s", duration(time.monotonic() - start))
        tracking.set_tags(store, run_id, {CHECKPOINT_TAG: str(ckpt), LOCATION_TAG: location})
        history = _metric_history(store, run_id, [M.LOSS, M.LOSS_CHANCE, M.KNN_MONITOR, M.LR, M.SAMPLES_PER_S])
        result.health = learning_health(store, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_curves({"pretrain": history}, [M.LOSS, M.LOSS_CHANCE, M.KNN_MONITOR, M.LR],
                              Path(tmp) / "pretrain_curves.png", f"pretraining ({cfg.data.dataset}/{cfg.data.split})")
            tracking.log_artifact(store, run_id, png, "figures")
        tracking.log_json(store, run_id, {"checkpoint": str(ckpt), "location": location,
                                          "epoch": int(read_state(ckpt)["epoch"]) + 1},
                          "checkpoint.json")
        tracking.end_run(store, run_id, "FINISHED")
        return ckpt
    except INTERRUPTS:
        tracking.end_run(store, run_id, "KILLED")
        raise
    except BaseException:
        tracking.end_run(store, run_id, "FAILED")
        raise


def _default_pretrain(cfg: Config, data_dir: Path, **kwargs):
    if cfg.resources.num_workers == 0:
        from pipeline.local import pretrain_in_process

        kwargs.pop("cache", None)
        return pretrain_in_process(cfg, data_dir, **kwargs)
    from pipeline.train_ray import pretrain_on_ray

    return pretrain_on_ray(cfg, data_dir, **kwargs)


def _metric_history(store, run_id: str, keys: list[str]) -> list[dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    for key in keys:
        for m in store.client.get_metric_history(run_id, key):
            rows.setdefault(m.step, {"epoch": float(m.step)})[key] = m.value
    return [rows[s] for s in sorted(rows)]


def load_model(cfg: Config, data: LoadedDataset, checkpoint: Path | None) -> torch.nn.Module:
    """The pretrained model of a checkpoint (or the seeded initial one for ``method=random``)."""
    torch.manual_seed(cfg.seed)
    model = build_pretrain_model(cfg, data.info)
    if checkpoint is not None:
        load_checkpoint(checkpoint, model)
    return model


def run_protocol(stage: str, cfg: Config, data: LoadedDataset, checkpoint: Path | None) -> ProtocolResult:
    """One evaluation protocol on a checkpoint, in-process."""
    device = torch.device("cuda" if cfg.resources.use_gpu and torch.cuda.is_available() else "cpu")
    model = load_model(cfg, data, checkpoint).to(device)
    train, test = (data.arrays(side) for side in data.eval_sides(cfg.eval.split))
    if stage == "linear":
        return linear_protocol(model, train, test, cfg, data.info, device)
    if stage == "finetune":
        return finetune_protocol(model, train, test, cfg, data.info, device)
    if stage == "knn":
        return knn_protocol(model, train, test, cfg, data.info, device)
    if stage.startswith("semi"):
        fractions = {M.semi_name(f): f for f in cfg.eval.semi_fractions}
        if stage not in fractions:
            raise ValueError(f"unknown semi-supervised stage {stage!r}; configured: {sorted(fractions)}")
        return semi_protocol(model, train, test, cfg, data.info, device, fractions[stage])
    raise ValueError(f"unknown protocol {stage!r}")


def _eval_stage(store, parent, tags, cfg: Config, data: LoadedDataset, stage: str, result: ChainResult) -> None:
    run_id, done = _open_stage(store, parent, stage, tags, cfg)
    result.stage_runs[stage] = run_id
    if done:
        result.metrics.update({k: v for k, v in tracking.get_run(store, run_id).data.metrics.items()
                               if k.startswith(stage + "_")})
        log.info("%s: finished before (run %s)", stage, run_id)
        return
    try:
        start = time.monotonic()
        res = run_protocol(stage, cfg, data, result.checkpoint)
        _log_protocol(store, run_id, res, cfg, data)
        log.info("%s: top-1 %.1f%%, top-5 %.1f%% (%s)", stage, res.top1, res.top5, duration(time.monotonic() - start))
        result.metrics.update(res.metrics())
        tracking.end_run(store, run_id, "FINISHED")
    except INTERRUPTS:
        tracking.end_run(store, run_id, "KILLED")
        raise
    except BaseException:
        tracking.end_run(store, run_id, "FAILED")
        raise


def _log_protocol(store, run_id: str, res: ProtocolResult, cfg: Config, data: LoadedDataset) -> None:
    tracking.log_metrics(store, run_id, res.metrics())
    for row in res.curves:
        tracking.log_metrics(store, run_id, {M.protocol_metric(res.protocol, k): v for k, v in row.items()
                                             if k != "epoch"}, step=int(row["epoch"]))
    table = {"protocol": res.protocol, "top1": res.top1, "top5": res.top5,
             "per_class": dict(zip(data.class_names, res.per_class, strict=True)),
             "confusion": res.confusion.tolist()}
    tracking.log_json(store, run_id, table, "metrics.json")
    title = f"{res.protocol} on {cfg.data.dataset}/{cfg.data.split}: top-1 {res.top1:.1f}%"
    with tempfile.TemporaryDirectory() as tmp:
        pngs = [plot_confusion(res.confusion, data.class_names, Path(tmp) / "confusion.png", title)]
        if res.curves:
            pngs.append(plot_curves({res.protocol: res.curves}, [M.TRAIN_LOSS, M.TEST_TOP1],
                                    Path(tmp) / "curves.png", title))
        if res.test_features is not None and res.test_labels is not None and len(res.test_labels) >= 10:
            pngs.append(plot_tsne(res.test_features, np.asarray(res.test_labels), data.class_names,
                                  Path(tmp) / "tsne.png", f"t-SNE of test features ({res.protocol})", cfg.seed))
        for png in pngs:
            tracking.log_artifact(store, run_id, png, "figures")


def learning_health(store, run_id: str) -> dict[str, float]:
    """Whether a pretraining learned, from its MLflow history: each stream's last loss beside the
    loss of a model that learned nothing (``loss_chance``, the same for every stream), and the kNN
    validation top-1 of the initial (random) encoders beside the last one, with the gain."""
    metrics = store.client.get_run(run_id).data.metrics
    keys = [k for k in metrics if k.startswith(M.LOSS_PART_PREFIX) and k != M.LOSS_CHANCE]
    last: dict[str, float] = {}
    for key in (*keys, M.LOSS_CHANCE, M.KNN_INIT, M.KNN_MONITOR):
        history = store.client.get_metric_history(run_id, key)
        if history:
            last[key] = max(history, key=lambda m: m.step).value
    if M.KNN_INIT in last and M.KNN_MONITOR in last:
        last[M.KNN_GAIN] = last[M.KNN_MONITOR] - last[M.KNN_INIT]
    return last


def summary_json(result: ChainResult) -> str:
    return json.dumps({"parent_run_id": result.parent_run_id, "metrics": result.metrics,
                       "pretraining_health": result.health,
                       "checkpoint": str(result.checkpoint) if result.checkpoint else None}, indent=2)
