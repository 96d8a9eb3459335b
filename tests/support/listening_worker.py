"""A Ray Train worker function that reports the TCP ports its own process listens on, for tests only.

Each rank joins the process group the job's ``torch_config`` sets up, runs one all-reduce (gloo's
pairs between the ranks are connected by then), lists its process's listening sockets and gathers
them to rank 0, whose return value is the fit's ``Result.return_value``. The workers import this
module from ``tests/support`` (on their ``PYTHONPATH``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import os
from typing import Any

import psutil  # installed with Ray
import ray.train
import torch
import torch.distributed as dist


def report_listeners(config: dict[str, Any]) -> dict[str, Any]:
    """Rank 0: ``{"listeners": [(rank, pid, address, port), ...], "store": (MASTER_ADDR, MASTER_PORT)}``."""
    total = torch.ones(1)
    dist.all_reduce(total)
    assert total.item() == dist.get_world_size()
    pid = os.getpid()
    mine = [(ray.train.get_context().get_world_rank(), pid, c.laddr.ip, c.laddr.port)
            for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]  # fmt: skip
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    dist.barrier()
    return {"listeners": [row for rows in gathered for row in rows],
            "store": (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))}  # fmt: skip
