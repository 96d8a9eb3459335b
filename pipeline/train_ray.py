"""Ray Train (V2) adapter around ``training.engine.run_pretraining``: DDP over gloo or nccl.

The worker function is thin: it reads its config from ``train_loop_config`` (the flat dict), takes
rank, device and the DDP wrapper from Ray's context, and runs the worker body that in-process
pretraining runs too (``pipeline.worker``).

* ``ScalingConfig`` comes from ``cfg.resources``; ``prepare_model`` wraps the model in DDP.
* Checkpoints: rank 0 writes state dicts every ``pretrain.checkpoint_every`` epochs and at the end,
  and reports them; a failed worker group is restarted from the latest registered checkpoint
  (``FailureConfig(max_failures)``, at-least-once epochs); running again with the same ``name``
  and ``storage`` resumes the whole run from its directory.
* Only rank 0 logs to MLflow, into a run the driver created (its id travels in the loop config),
  so a retried worker group keeps writing the same run; an epoch's metrics are logged once its
  checkpoint is saved (``pipeline.metric_journal``), so retried epochs are never logged twice.
* Storage (``pipeline.storage``): ``storage`` is a local folder on one machine, a URI (``s3://...``,
  any pyarrow filesystem) or a shared folder on a cluster. The driver never reads Ray's checkpoint
  path from its own disk: it copies the final checkpoint from storage into ``cache`` (on a cluster
  it was written by rank 0 on another node), and a resumed run restores from storage too.
* The DDP rendezvous listens on the node's own address, 127.0.0.1 for a local run, never on every
  address (``pipeline.rendezvous``).
* Measured here (../shared/notes §1): a ``fit()`` costs ~11 s before the loop starts and ~1-4 s
  after it, so short evaluations do not get their own TorchTrainer.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray
import ray.train
import ray.train.torch

from crossmoco.pipeline import console
from crossmoco.pipeline import storage as shared
from crossmoco.pipeline.data import local_copy
from crossmoco.pipeline.pretraining import PretrainJob, PretrainResult
from crossmoco.pipeline.rendezvous import NodeAddressTorchConfig
from crossmoco.pipeline.worker import pretrain_worker
from crossmoco.training.checkpoints import read_state
from crossmoco.training.config import ResourcesConfig, from_flat_dict, to_flat_dict
from crossmoco.training.dataset import LoadedDataset
from crossmoco.training.engine import PretrainingDiverged, WorkerContext
from crossmoco.training.runtime import allocator_env

log = logging.getLogger(__name__)



def _worker(loop: dict[str, Any]) -> dict[str, Any]:
    """The Ray Train worker function (importable, so workers can unpickle it). Metrics and checkpoints
    reach the driver through ``ray.train.report``; rank 0's return value is the fit's
    ``Result.return_value``, which ``pretrain_on_ray`` reads the per-epoch history from."""
    console.quiet_worker(loop.get("log_dir"))  # Ray Train's and MLflow's lines to <run_dir>/logs/workers.log
    data: LoadedDataset = loop["data"]
    if data.source:  # a dataset on shared storage: this node's copy, at the driver's path
        local_copy(data.source, data.root.parent)
    cfg = from_flat_dict(loop["config"])
    context = ray.train.get_context()
    rank = context.get_world_rank()
    resume_dir = _resume_copy(loop.get("name", "run"), rank)

    def persist(metrics: dict[str, float], ckpt: Path | None) -> None:
        checkpoint = ray.train.Checkpoint.from_directory(str(ckpt)) if ckpt is not None else None
        ray.train.report(metrics, checkpoint=checkpoint)
        if ckpt is not None:
            shutil.rmtree(ckpt, ignore_errors=True)  # persisted to storage by report()

    try:
        place = WorkerContext(rank=rank, world_size=context.get_world_size(), device=ray.train.torch.get_device(),
                              prepare_model=ray.train.torch.prepare_model, report=persist, resume_from=resume_dir)
        summary = pretrain_worker(cfg, data, loop["run"], place)
    except PretrainingDiverged as e:  # every rank at the same step: ended, not failed, so Ray retries nothing
        return {"diverged": str(e)}  # deterministic: a retry from the last checkpoint would diverge again
    finally:
        if resume_dir is not None:
            shutil.rmtree(resume_dir, ignore_errors=True)
    return {"epochs_run": summary.epochs_run, "final_loss": summary.final_loss, "history": summary.history}


def _resume_copy(name: str, rank: int) -> Path | None:
    """This worker's local copy of the checkpoint Ray resumes from (None on a fresh start), in a
    folder named for the run and rank: deleted when the worker ends, and replaced by the next
    attempt if a killed worker left it."""
    resume = ray.train.get_checkpoint()
    if resume is None:
        return None
    folder = Path(tempfile.gettempdir()) / f"crossmoco-resume-{name}-rank{rank}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Path(resume.to_directory(str(folder)))


def pretrain_on_ray(job: PretrainJob, placement_strategy: str = "PACK") -> PretrainResult:
    """Run (or resume) pretraining as a Ray Train job named ``job.name`` under ``job.storage`` (a
    folder or a URI); the final checkpoint is copied into ``job.cache`` (default: the temporary
    folder) unless it is on this machine's disk already. ``placement_strategy`` is Ray's for the
    workers' placement group (``SPREAD``: one rank per node where it fits; on a GPU cluster one GPU
    per node spreads them anyway). A worker on a node without the driver's copy of a dataset on
    shared storage (``job.data.source``) makes its own at the same path."""
    from ray.train.torch import TorchTrainer

    cfg, name, storage = job.cfg, job.name, job.storage
    res = cfg.resources
    if res.num_workers < 1:  # Ray Train needs a worker; the chain runs num_workers=0 in its own process
        raise ValueError("pretrain_on_ray: resources.num_workers=0 means no Ray Train workers; "
                         "crossmoco.pipeline.local.pretrain_in_process runs that configuration")
    per_worker = {"CPU": res.cpus_per_worker, **({"GPU": res.gpus_per_worker} if res.use_gpu else {})}
    loop = {
        "config": to_flat_dict(cfg), "name": name, "log_dir": str(console.log_dir() or ""),
        # the dataset as the driver verified it (its stamp: workers do not hash the files again), and the run
        "data": dataclasses.replace(job.data, root=job.data.root.resolve()), "run": job.run,
    }
    trainer = TorchTrainer(
        _worker,  # type: ignore[arg-type]  # typed as returning None, but Ray 2.60 keeps rank 0's return value
        train_loop_config=loop,
        torch_config=torch_config(res),
        scaling_config=ray.train.ScalingConfig(
            num_workers=res.num_workers, use_gpu=res.use_gpu, resources_per_worker=per_worker,
            placement_strategy=placement_strategy,
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=shared.resolve(storage),
            failure_config=ray.train.FailureConfig(max_failures=res.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if diverged := (getattr(result, "return_value", None) or {}).get("diverged"):
        raise PretrainingDiverged(diverged)
    if result.checkpoint is None:
        raise RuntimeError(f"pretraining run {name!r} finished without a checkpoint")
    location = shared.location_under(shared.resolve(storage), result.checkpoint.path)
    local = local_checkpoint(location, job.cache or Path(tempfile.gettempdir()) / "crossmoco-checkpoints")
    epochs = int(read_state(local)["epoch"]) + 1
    history = (getattr(result, "return_value", None) or {}).get("history", [])
    return PretrainResult(local, location, epochs, shared.join(shared.resolve(storage), name), history)


def torch_config(resources: ResourcesConfig) -> NodeAddressTorchConfig:
    """The process group of a job with ``resources`` (``resources.ddp_backend``: gloo on CPU, nccl with
    GPUs), its rendezvous on the node's own address (127.0.0.1 in a local Ray), never on every address."""
    return NodeAddressTorchConfig(backend=resources.ddp_backend)


def local_checkpoint(location: str, cache: Path) -> Path:
    """A checkpoint folder this process can open: the folder itself when ``location`` is on this
    machine's disk, else a copy from storage in ``cache/<run name>/<checkpoint folder name>``."""
    if not shared.is_uri(location) and Path(location).is_dir():
        return Path(location)
    run, checkpoint = location.partition("?")[0].rstrip("/").rsplit("/", 2)[-2:]
    return shared.fetch(location, Path(cache) / run / checkpoint)


def ray_init_local(num_cpus: int | None = None) -> None:
    """Start (or join) a local Ray instance for the CLI, quiet unless ``-v``: workers' output stays
    in Ray's session logs (linked from the run's ``logs/``), Ray's own driver lines go to the
    logging configuration of ``pipeline.console``; workers get the allocator environment. A Ray it
    starts itself listens on loopback only (``keep_on_loopback``); joining a cluster
    (``RAY_ADDRESS``, or one started with ``ray start`` on this machine) is unchanged."""
    if ray.is_initialized():
        return
    for key, value in {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0", "RAY_USAGE_STATS_ENABLED": "0"}.items():
        os.environ.setdefault(key, value)
    if _starts_its_own_ray():
        keep_on_loopback()
    verbose = console.is_verbose()
    console.route_ray_logs()
    # The dashboard hosts the State API. Without it, Ray Train's PlacementGroupCleaner polls an
    # unavailable API, and when ``get_actor`` returns no entry it reads the live controller as dead
    # and removes the run's placement group (seen here: both workers killed mid-run; Ray 2.60,
    # ray/train/v2/_internal/state/util.py is_actor_alive). It also silences the cleaner's warnings.
    ray.init(
        num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=verbose,
        configure_logging=verbose, logging_level=logging.INFO if verbose else logging.WARNING,
        runtime_env={"env_vars": allocator_env()},  # glibc malloc tuned before worker processes start
    )
    # No public API names the session folder; a stand-in ``ray`` (tests) has no private module.
    node = getattr(getattr(getattr(ray, "_private", None), "worker", None), "_global_node", None)
    if node is not None:
        console.link_ray_session(Path(node.get_logs_dir_path()))


LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def keep_on_loopback() -> None:
    """Make the local Ray about to start bind every port to 127.0.0.1 (measured with ``ss -ltnp``:
    GCS, raylet, object manager, workers, dashboard agent, metrics and runtime-env agent).

    Ray 2.60 takes its node address from ``services.get_node_ip_address``, which returns the
    loopback address where ``ray_constants.ENABLE_RAY_CLUSTER`` is off (its switch for macOS and
    Windows laptops, env ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``); with node address 127.0.0.1
    the C++ servers listen on localhost only and the Python agents bind that address. Passing
    ``_node_ip_address="127.0.0.1"`` is not enough: ``resolve_ip_for_localhost`` turns it back into
    the routable address. The environment reaches Ray's own processes; this process imported Ray
    already, so its constant (read at import) is set too. Only for a Ray this process starts: a
    driver joining a cluster must register its routable address.
    """
    import ray._private.ray_constants as ray_constants

    os.environ[LOOPBACK_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def _starts_its_own_ray() -> bool:
    """Whether ``ray.init()`` would start a new local instance (no ``RAY_ADDRESS``, no cluster
    started with ``ray start`` on this machine), by Ray's own rule."""
    from ray._private.services import canonicalize_bootstrap_address

    try:
        return canonicalize_bootstrap_address(None) is None  # type: ignore[arg-type]  # None is documented
    except Exception:  # an address Ray cannot resolve: ray.init will say so
        return False
