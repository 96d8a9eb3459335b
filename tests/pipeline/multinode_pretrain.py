"""Driver of test_multinode.py, run in its own process (its own Ray): a head and two worker nodes on
this host (``ray.cluster_utils.Cluster``), 2-worker DDP pretraining spread over the worker nodes
with storage on S3; once a checkpoint is on S3, the node that holds rank 0 is removed and a fresh
node added (what the autoscaler does after a spot preemption). Prints one JSON line of what
happened; the cluster is shut down whatever happens.

    python multinode_pretrain.py SHARDS S3_URI WORK_DIR
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pyarrow.fs
import ray
from ray.cluster_utils import Cluster

SUPPORT = Path(__file__).resolve().parents[1] / "support"  # test-only helpers; Ray's nodes import them too
sys.path.insert(0, str(SUPPORT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), *filter(None, [os.environ.get("PYTHONPATH")])])

from fault_injection import PlacementProbe  # noqa: E402

from crossmoco.pipeline import storage as shared  # noqa: E402
from crossmoco.pipeline import tracking, train_ray  # noqa: E402
from crossmoco.pipeline.config_file import load_config  # noqa: E402
from crossmoco.pipeline.data import load_dataset  # noqa: E402
from crossmoco.pipeline.pretraining import PretrainJob, RunHandle  # noqa: E402
from crossmoco.pipeline.train_ray import keep_on_loopback, pretrain_on_ray  # noqa: E402

EPOCHS = 5
NODE = {"num_cpus": 1}  # a 0.9-CPU rank fits once per node: SPREAD or not, two ranks need two nodes


def _nodes_of(probe: Path, rank: int) -> list[str]:
    path = probe / f"rank{rank}.txt"
    return path.read_text().split() if path.exists() else []


def _wait(what: str, ok, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not ok():
        if time.time() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(shards: Path, s3: str, work: Path) -> dict:
    keep_on_loopback()
    cfg = load_config("smoke", [f"pretrain.epochs={EPOCHS}", "pretrain.checkpoint_every=1", "pretrain.batch_size=16",
                                "resources.num_workers=2", "resources.cpus_per_worker=0.9",
                                "resources.max_failures=3"])
    # The head runs the driver, Ray Train's controller and the State API (dashboard), no rank.
    # Its own dashboard port: a local Ray of the same pytest session (``ray_session``) may hold 8265.
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": _free_port(),
        "object_store_memory": 128 * 1024**2})
    try:
        workers = [cluster.add_node(**NODE, object_store_memory=128 * 1024**2) for _ in range(2)]
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        cluster.wait_for_nodes()
        store = tracking.init_store(f"sqlite:///{work / 'mlflow.db'}", "multinode")
        run_id = tracking.start_stage_free(store, "pretrain", {})
        probe = work / "probe"
        probe.mkdir()
        train_ray._worker = PlacementProbe(str(probe))  # this driver process only: it pickles the probe
        out: dict = {}

        def fit() -> None:
            try:
                job = PretrainJob(cfg, load_dataset(shards, cfg), RunHandle(store.uri, store.experiment_id, run_id),
                                  s3, "multinode", work / "cache")
                res = pretrain_on_ray(job, placement_strategy="SPREAD")
                out.update(epochs_run=res.epochs_run, location=res.location, checkpoint=str(res.checkpoint))
            except BaseException as e:  # reported, not lost in the thread
                out["error"] = f"{type(e).__name__}: {e}"

        thread = threading.Thread(target=fit)
        thread.start()
        _wait("both ranks placed", lambda: _nodes_of(probe, 0) and _nodes_of(probe, 1))
        first = {r: _nodes_of(probe, r)[0] for r in (0, 1)}
        # A checkpoint on S3, registered (its metrics reach MLflow only after report() returned).
        _wait("the first checkpoint", lambda: tracking.logged_steps(store, run_id, "loss"))
        at_loss = sorted(tracking.logged_steps(store, run_id, "loss"))
        victim = next(n for n in workers if n.node_id == first[0])
        cluster.remove_node(victim, allow_graceful=False)  # a preempted spot node: no goodbye
        cluster.add_node(**NODE, object_store_memory=128 * 1024**2)
        thread.join(timeout=600)
        fs, root = shared.filesystem(shared.join(s3, "multinode"))
        listed = [i.base_name for i in fs.get_file_info(pyarrow.fs.FileSelector(root))]
        return {**out, "first_nodes": first, "rank0_nodes": _nodes_of(probe, 0), "rank1_nodes": _nodes_of(probe, 1),
                "removed": first[0], "logged_before_removal": at_loss,
                "loss_steps": sorted(tracking.logged_steps(store, run_id, "loss")), "storage_listing": listed,
                "alive": thread.is_alive()}
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
    result = main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
    print("RESULT " + json.dumps(result), flush=True)
