"""Grids on Ray Tune (Train V2): one trial = one whole chain (pretrain -> protocols).

* Each trial is a function trainable holding 0.01 CPU (Tune counts only the trial driver); the
  chain inside it starts a TorchTrainer whose workers hold ``resources.num_workers x
  cpus_per_worker``. With ``resources.num_workers=0`` the chain trains in the trial's own process,
  which holds ``cpus_per_worker`` CPUs (and ``gpus_per_worker`` of a GPU with ``use_gpu``:
  fractional GPUs let several trials share one). Before anything starts, the grid checks that
  driver + workers fit the cluster and caps ``max_concurrent_trials`` so trials never oversubscribe
  it (on 2 CPUs the notes measured a silent, endless wait otherwise).
* Trials and MLflow are linked both ways: the trial reports the chain's parent run id, and the
  parent run carries the trial's id as a tag.
* ``resume=True`` restores the Tune run from its directory: finished trials are not run again,
  and a re-run trial continues its chain's MLflow parent run (the chain key) instead of
  duplicating it.
* Each outcome says whether its trial finished, failed, or was interrupted (Ctrl-C stops Tune,
  which returns with the running and pending trials unfinished and no error).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune

from crossmoco.pipeline import console, tracking
from crossmoco.pipeline import storage as shared
from crossmoco.pipeline.chain import ChainLabels, run_chain
from crossmoco.pipeline.progress import duration
from crossmoco.training import metrics as M
from crossmoco.training.config import Config, from_flat_dict, to_flat_dict

log = logging.getLogger(__name__)
TRIAL_DRIVER_CPU = 0.01
DRIVER_RESOURCE = "TRAIN_DRIVER"  # cluster.yaml's head declares it


@dataclass(frozen=True)
class TrialSpec:
    """One grid point: a name, its config and (optionally) the table row it reproduces."""

    name: str
    config: Config
    row_id: str = ""
    setting: tuple[tuple[str, str], ...] = ()  # (short name, value) of the grid's axes: the runs table's columns
    paper: tuple[tuple[str, float], ...] = ()  # (metric, the paper's figure) of the rows it reproduces


@dataclass(frozen=True)
class TrialOutcome:
    name: str
    row_id: str
    metrics: dict[str, float]
    parent_run_id: str
    error: str = ""
    status: str = "finished"  # "finished", "failed" (an error), "interrupted" (stopped or never started)


def _trial(params: dict[str, Any]) -> None:
    """The Tune trainable: runs one chain and reports its metrics and MLflow parent run."""
    spec = params["trial"]
    console.quiet_worker(spec.get("log_dir"))  # the chain's lines go to <run_dir>/logs/workers.log
    cfg = from_flat_dict(spec["config"])
    if not cfg.resources.num_workers:  # the chain trains here: as many torch threads as the trial holds CPUs
        import torch

        torch.set_num_threads(max(1, int(cfg.resources.cpus_per_worker)))
    trial_id = tune.get_context().get_trial_id()
    labels = ChainLabels(spec["row_id"], spec["name"], {M.TUNE_TRIAL: trial_id, M.GRID: spec["grid"]},
                         dict(spec.get("setting") or ()), dict(spec.get("paper") or ()))
    result = run_chain(spec["data_dir"], cfg, run_dir=Path(spec["run_dir"]), experiment=spec["experiment"],
                       labels=labels, storage=spec.get("storage") or None,
                       tracking_uri=spec.get("tracking_uri") or None)
    tune.report({**result.metrics, "parent_run_id": result.parent_run_id, "trial_name": spec["name"]})


class TrialLines(tune.Callback):
    """Tune callback in the grid's driver: one line per finished trial, ``trial k/n NAME: ...``,
    with its headline metrics and the time the remaining trials should take."""

    def __init__(self, total: int, concurrent: int) -> None:
        self.total, self.concurrent = total, max(1, concurrent)
        self.done = 0
        self._started: dict[str, float] = {}
        self.durations: list[float] = []

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if not self._started and not self.durations:  # first call: count trials a resumed grid had finished
            self.done = sum(t.status == "TERMINATED" for t in trials)
        self._started[trial.trial_id] = time.monotonic()

    def _finish(self, trial: Any) -> tuple[str, str]:
        self.done += 1
        start = self._started.pop(trial.trial_id, None)
        took = ""
        if start is not None:
            self.durations.append(time.monotonic() - start)
            took = f" in {duration(self.durations[-1])}"
        left = self.total - self.done
        eta = ""
        if left > 0 and self.durations:
            mean = sum(self.durations) / len(self.durations)
            eta = f"; ETA {duration(mean * -(-left // self.concurrent))}"
        name = ((trial.config or {}).get("trial") or {}).get("name", trial.trial_id)
        return f"trial {self.done}/{self.total} {name}", took + eta

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        head, tail = self._finish(trial)
        result = trial.last_result or {}
        shown = ", ".join(f"{k.removesuffix('_' + M.TOP1)} {v:.1f}" for k, v in sorted(result.items())
                          if k.endswith("_" + M.TOP1) and isinstance(v, int | float))
        log.info("%s: done%s%s", head, f" ({shown})" if shown else "", tail)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        head, tail = self._finish(trial)
        log.warning("%s: FAILED (details in the run directory's logs/)%s", head, tail)


def trial_resources(cfg: Config) -> dict[str, float]:
    """What a trial's own process holds. With Ray Train workers (``resources.num_workers`` >= 1) only the trial
    driver's sliver (the workers hold their CPUs and GPUs themselves); with ``num_workers=0`` the chain trains in
    the trial's process, which then holds ``cpus_per_worker`` CPUs (its torch threads) and, with ``use_gpu``,
    ``gpus_per_worker`` of a GPU: 0.25 lets four trials share one GPU."""
    res = cfg.resources
    if res.num_workers:
        return {"CPU": TRIAL_DRIVER_CPU}
    return {"CPU": res.cpus_per_worker, **({"GPU": res.gpus_per_worker} if res.use_gpu else {})}


def concurrency(cfg: Config, cluster_cpus: float, cluster_gpus: float = 0.0) -> int:
    """How many trials fit side by side; raises if even one does not fit."""
    res = cfg.resources
    own = trial_resources(cfg)
    per_trial = own["CPU"] + res.num_workers * res.cpus_per_worker
    if per_trial > cluster_cpus + 1e-9:
        held = (f"driver {TRIAL_DRIVER_CPU} + {res.num_workers} workers x {res.cpus_per_worker:g}" if res.num_workers
                else f"the chain in the trial's process, resources.cpus_per_worker={res.cpus_per_worker:g}")
        raise ValueError(
            f"a trial needs {per_trial:g} CPUs ({held}) but the cluster has {cluster_cpus:g}; lower "
            f"resources.cpus_per_worker (e.g. --set resources.cpus_per_worker=0.99) or resources.num_workers")
    fits = math.floor((cluster_cpus + 1e-9) / per_trial)
    gpus = own.get("GPU", 0.0) + (res.num_workers * res.gpus_per_worker if res.use_gpu else 0.0)
    if gpus > 0:
        if gpus > cluster_gpus + 1e-9:
            raise ValueError(f"a trial needs {gpus:g} GPUs but the cluster has {cluster_gpus:g}")
        fits = min(fits, math.floor((cluster_gpus + 1e-9) / gpus))
    return max(1, fits)


def _resources_of(params: dict[str, Any]) -> dict[str, float]:
    """Tune's per-trial resource request, read from the trial's own config."""
    return trial_resources(from_flat_dict(params["trial"]["config"]))


def run_grid(
    trials: list[TrialSpec], data_dir: str | Path, *, run_dir: Path, name: str, experiment: str, resume: bool = False,
    storage: str | None = None,
) -> list[TrialOutcome]:
    """Run (or resume) ``trials`` as the Tune experiment ``name`` under ``storage/tune`` (a folder or a
    URI; default ``$CROSSMOCO_STORAGE``, else ``run_dir``); the trials' Ray Train runs go to
    ``storage/ray``."""
    if not trials:
        raise ValueError("a grid needs at least one trial")
    run_dir = Path(run_dir).resolve()
    base = shared.resolve(storage) if storage else None
    tune_root = shared.join(base, "tune") if base else shared.default_storage(run_dir, "tune")
    train_root = shared.join(base, "ray") if base else shared.default_storage(run_dir, "ray")
    # Resolved here, in the driver: a trial runs in a Ray worker, whose environment is the node's,
    # not this process's (an MLFLOW_TRACKING_URI set here would not reach it).
    uri = tracking.default_uri(run_dir)
    specs = [{"name": t.name, "config": to_flat_dict(t.config), "row_id": t.row_id, "grid": name,
              "setting": list(t.setting), "paper": list(t.paper),
              "data_dir": shared.resolve(data_dir), "run_dir": str(run_dir), "experiment": experiment,
              "log_dir": str(console.log_dir() or ""), "storage": train_root, "tracking_uri": uri}
             for t in trials]
    tracking.init_store(uri, experiment, artifact_root=run_dir / "artifacts")  # schema
    # On a cluster whose head declares TRAIN_DRIVER (cluster.yaml), trial drivers are pinned there: a
    # spot worker's preemption never takes a trial's bookkeeping (its chain, its MLflow runs) with it.
    pin = {DRIVER_RESOURCE: TRIAL_DRIVER_CPU} if ray.cluster_resources().get(DRIVER_RESOURCE) else {}
    trainable = tune.with_resources(_trial, lambda params: tune.PlacementGroupFactory([{**_resources_of(params),
                                                                                         **pin}]))
    path = shared.join(tune_root, name)
    cpus, gpus = (float(ray.cluster_resources().get(k, 0)) for k in ("CPU", "GPU"))
    limit = min(concurrency(t.config, cpus, gpus) for t in trials)
    lines = TrialLines(len(trials), limit)
    if resume and tune.Tuner.can_restore(path):
        log.info("grid %s: resuming from %s", name, path)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
        local = getattr(tuner, "_local_tuner", None)  # restore() takes no callbacks; replace the pickled ones
        if local is not None:
            local.get_run_config().callbacks = [lines]
    else:
        if shared.exists(path) and not resume:
            raise FileExistsError(f"{path} exists: pass --resume to continue that grid, or choose another --name")
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(specs)},
            tune_config=tune.TuneConfig(max_concurrent_trials=limit),
            run_config=tune.RunConfig(name=name, storage_path=tune_root, verbose=2 if console.is_verbose() else 0,
                                      callbacks=[lines],
                                      failure_config=tune.FailureConfig(max_failures=1)),
        )
    log.info("grid %s: %d trials, %d at a time", name, len(trials), limit)
    start = time.monotonic()
    grid = tuner.fit()
    ran = len(lines.durations)
    before = f" ({len(trials) - ran} had finished before)" if ran < len(trials) else ""
    log.info("grid %s: %d trial%s run in %s%s", name, ran, "" if ran == 1 else "s",
             duration(time.monotonic() - start), before)
    outcomes = []
    for res in (grid[i] for i in range(len(grid))):  # ResultGrid indexes; it declares no __iter__
        spec = res.config["trial"] if res.config else {}
        metrics = {k: float(v) for k, v in (res.metrics or {}).items()
                   if k.endswith(("_top1", "_top5")) and isinstance(v, int | float)}
        reported = "parent_run_id" in (res.metrics or {})  # a trial reports once, when its chain is done
        status = "failed" if res.error is not None else "finished" if reported else "interrupted"
        outcomes.append(TrialOutcome(spec.get("name", "?"), spec.get("row_id", ""), metrics,
                                     str((res.metrics or {}).get("parent_run_id", "")),
                                     "" if res.error is None else f"{type(res.error).__name__}: {res.error}", status))
    order = {s["name"]: i for i, s in enumerate(specs)}
    return sorted(outcomes, key=lambda o: order.get(o.name, len(order)))
