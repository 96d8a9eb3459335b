"""The DDP rendezvous of a Ray Train job, bound to the node's own address instead of every address.

Ray Train's torch backend (Ray 2.60, ``ray/train/torch/config.py``) gives every worker
``MASTER_ADDR``/``MASTER_PORT`` and calls ``init_process_group("env://")``: rank 0's TCPStore (the
unauthenticated key-value store the ranks rendezvous through) then binds its port on all IPv4 and
IPv6 addresses (``*:<port>`` in ``ss -ltnp``), whatever ``MASTER_ADDR`` says. Here rank 0 binds that
socket itself, on the address Ray knows its node by, and hands it to the store
(``TCPStore(master_listen_fd=...)``, libuv server); the other ranks connect to it, and every rank
joins the process group through that store. The address is 127.0.0.1 in a Ray started on loopback
(``pipeline.train_ray.keep_on_loopback``: every local run) and the node's routable address on a
cluster. Gloo's pair sockets go on the interface holding that address (``GLOO_SOCKET_IFNAME``);
NCCL's bootstrap socket on ``lo`` when it is loopback (``NCCL_SOCKET_IFNAME``; all ranks are then on
one machine). A ``GLOO_SOCKET_IFNAME``/``NCCL_SOCKET_IFNAME`` already set in the workers' environment
is kept: the operator's choice of network on a multi-homed cluster node.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import ray
import torch.distributed as dist
from ray.train.torch.config import TorchConfig, _set_torch_distributed_env_vars, _TorchBackend

log = logging.getLogger(__name__)

_store_socket: socket.socket | None = None  # rank 0's listening socket, between binding it and the store taking it


@dataclass
class NodeAddressTorchConfig(TorchConfig):
    """``TorchConfig`` whose process group rendezvouses on the node's own address (module docstring).
    ``init_method`` is not used: the store is made here, not from a URL."""

    @property
    def backend_cls(self):
        return _NodeAddressTorchBackend


class _NodeAddressTorchBackend(_TorchBackend):
    """Ray's torch backend (shutdown, device context) with its own process group setup."""

    def on_start(self, worker_group, backend_config: TorchConfig) -> None:  # type: ignore[override]  # Ray passes its TorchConfig
        backend = backend_config.backend or "gloo"  # TorchTrainer sets it (nccl with GPUs) before this runs
        address, port = worker_group.execute_single(0, bind_store_socket)
        worker_group.execute(_set_torch_distributed_env_vars)  # LOCAL_RANK, RANK, WORLD_SIZE, ... as Ray's
        ray.get([
            worker_group.execute_single_async(
                rank, join_process_group, backend=backend, world_rank=rank, world_size=len(worker_group),
                address=address, port=port, timeout_s=backend_config.timeout_s,
            )
            for rank in range(len(worker_group))
        ])  # fmt: skip


def bind_store_socket() -> tuple[str, int]:
    """Rank 0, before any rank joins: a listening socket on this node's address and a free port,
    kept for ``join_process_group``; returns (address, port) for every rank."""
    global _store_socket
    address = ray.util.get_node_ip_address()
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(128)  # ranks that connect before the store starts wait in the backlog
    if _store_socket is not None:
        _store_socket.close()  # a previous setup in this process that never reached the store
    _store_socket = sock
    return address, sock.getsockname()[1]


def join_process_group(backend: str, world_rank: int, world_size: int, address: str, port: int, timeout_s: int) -> None:
    """Every rank: the sockets' interfaces, the store (served by rank 0 on its bound socket) and
    ``init_process_group`` through it. ``MASTER_ADDR``/``MASTER_PORT`` are set as Ray sets them,
    for code that reads them."""
    global _store_socket
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = address, str(port)
    _backend_env(backend, address)
    timeout = timedelta(seconds=timeout_s)
    if world_rank == 0:
        assert _store_socket is not None, "bind_store_socket runs on rank 0 first"
        listen_fd, _store_socket = _store_socket.detach(), None  # the store owns (and closes) it now
        store = dist.TCPStore(address, port, world_size, is_master=True, timeout=timeout, master_listen_fd=listen_fd)
        log.info("process group %s: rendezvous on %s:%d, world size %d", backend, address, port, world_size)
    else:
        store = dist.TCPStore(address, port, world_size, is_master=False, timeout=timeout)
    dist.init_process_group(backend=backend, store=store, rank=world_rank, world_size=world_size, timeout=timeout)


def _backend_env(backend: str, address: str) -> None:
    """Gloo's sockets on the interface that holds ``address``; NCCL's bootstrap on ``lo`` when it is
    loopback, and (as Ray's backend does) a timed-out NCCL collective fails the run instead of
    hanging. A variable already set is left alone, and so is gloo's interface when no interface
    holds the address."""
    if "gloo" in backend and "GLOO_SOCKET_IFNAME" not in os.environ and (name := interface_of(address)):
        os.environ["GLOO_SOCKET_IFNAME"] = name  # backend "gloo", or a list such as "cpu:gloo,cuda:nccl"
    if "nccl" not in backend:
        return
    if ipaddress.ip_address(address).is_loopback:
        os.environ.setdefault("NCCL_SOCKET_IFNAME", interface_of(address) or "lo")
    if "TORCH_NCCL_ASYNC_ERROR_HANDLING" not in os.environ and "TORCH_NCCL_BLOCKING_WAIT" not in os.environ:
        os.environ["TORCH_NCCL_ASYNC_ERROR_HANDLING"] = "1"


def interface_of(address: str) -> str | None:
    """The name of the network interface holding ``address`` (``lo`` for 127.0.0.1), or None."""
    import psutil  # installed with Ray (ray/thirdparty_files, on the path once ray is imported)

    wanted = ipaddress.ip_address(address)
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    if ipaddress.ip_address(a.address.split("%")[0]) == wanted:
                        return name
                except ValueError:
                    continue
    return None
