"""A Ray Train job's DDP rendezvous listens on the node's address, never on every address.

Command: a Ray DDP run on one machine (``chain``/``pretrain`` with ``resources.num_workers>=1``),
whose Ray is started on loopback (``pipeline.train_ray.ray_init_local``).
Holds while the job runs: every TCP port that the job's worker processes listen on (the
torch.distributed store that rank 0 serves, gloo's pair sockets) is bound to 127.0.0.1 or ::1; before,
rank 0's store listened on ``*:<port>`` (every IPv4 and IPv6 address), unauthenticated. Measured
inside each worker, after the ranks have exchanged a tensor, with the job's own ``torch_config``
(the one ``pretrain_on_ray`` uses). On a cluster the same code binds the node's own address; the
GPU path (nccl) gets the same store, checked here without a GPU.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest

from crossmoco.pipeline import rendezvous
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.train_ray import torch_config

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.mark.ray
def test_ddp_job_listens_on_loopback_only(ray_session, tmp_path) -> None:
    import ray.train
    from listening_worker import report_listeners
    from ray.train.torch import TorchTrainer

    resources = load_config("smoke", ["resources.num_workers=2", "resources.cpus_per_worker=1"]).resources
    trainer = TorchTrainer(
        report_listeners, torch_config=torch_config(resources),
        scaling_config=ray.train.ScalingConfig(num_workers=2, use_gpu=False, resources_per_worker={"CPU": 1}),
        run_config=ray.train.RunConfig(name="rendezvous", storage_path=str(tmp_path)),
    )  # fmt: skip
    found = trainer.fit().return_value
    listeners, (store_address, store_port) = found["listeners"], found["store"]
    assert {rank for rank, *_ in listeners} == {0, 1}, listeners  # both workers seen listening
    assert (0, store_port) in {(rank, port) for rank, _, _, port in listeners}, ("rank 0 serves the store", found)
    assert store_address in LOOPBACK, found
    exposed = [f"rank {rank} pid {pid}: {host}:{port}" for rank, pid, host, port in listeners if host not in LOOPBACK]
    assert not exposed, "\n".join(exposed)


def test_store_socket_is_bound_to_the_node_address(monkeypatch) -> None:
    """``bind_store_socket`` binds the address Ray gives the node, whatever it is (a cluster node's)."""
    monkeypatch.setattr(rendezvous.ray.util, "get_node_ip_address", lambda: "127.0.0.1")
    address, port = rendezvous.bind_store_socket()
    sock = rendezvous._store_socket
    try:
        assert (address, port) == ("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()
        rendezvous._store_socket = None


def test_gpu_jobs_get_nccl_and_the_same_store(monkeypatch) -> None:
    """``use_gpu``: nccl (``backend=auto``), the store served from rank 0's bound socket at the
    address every rank is given, NCCL's bootstrap on loopback, NCCL's async error handling on (as Ray's
    backend does). ``init_process_group`` is replaced: there is no GPU here."""
    cfg = torch_config(load_config("smoke", ["resources.use_gpu=true", "resources.num_workers=1"]).resources)
    assert isinstance(cfg, rendezvous.NodeAddressTorchConfig) and cfg.backend == "nccl"
    for name in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "TORCH_NCCL_ASYNC_ERROR_HANDLING",
                 "TORCH_NCCL_BLOCKING_WAIT", "MASTER_ADDR", "MASTER_PORT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(rendezvous.ray.util, "get_node_ip_address", lambda: "127.0.0.1")
    joined = {}
    monkeypatch.setattr(rendezvous.dist, "init_process_group", lambda **kw: joined.update(kw))
    address, port = rendezvous.bind_store_socket()
    rendezvous.join_process_group("nccl", world_rank=0, world_size=1, address=address, port=port, timeout_s=30)
    store = joined["store"]
    assert (joined["backend"], joined["rank"], joined["world_size"]) == ("nccl", 0, 1)
    assert joined["timeout"] == timedelta(seconds=30)
    assert (store.host, store.port) == ("127.0.0.1", port)
    assert rendezvous._store_socket is None, "the store owns the bound socket"
    with socket.create_connection((address, port), timeout=5):  # the store serves on it
        pass
    store.set("k", "v")
    assert store.get("k") == b"v"
    assert (os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]) == ("127.0.0.1", str(port))
    assert os.environ["NCCL_SOCKET_IFNAME"] == "lo"
    assert os.environ["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1"
    assert "GLOO_SOCKET_IFNAME" not in os.environ


def test_interface_of_loopback() -> None:
    assert rendezvous.interface_of("127.0.0.1") == "lo"
    assert rendezvous.interface_of("192.0.2.1") is None  # TEST-NET-1: held by no interface here
