"""Preprocessing on Ray: the per-file work of ``datasets.preprocess`` fanned out as Ray tasks.

``datasets/`` knows no Ray; it takes a mapper that applies ``process_task`` to every file and
yields the results in file order. This one sends batches of files to Ray tasks (one CPU each, on
any node of the cluster), keeps a bounded number in flight (results come back to the driver,
which writes the shards), and yields the batches in order, so the shards and manifest are the
same bytes as the process pool's. On a cluster the raw folder must be at the same path on every
node (a shared folder); the driver alone writes the output.

When it pays (``bench/bench_preprocess_ray.py``): a Ray task costs milliseconds of scheduling
and moves its samples through the object store, where a forked process pool costs neither; on
one machine the pool is as fast or faster. Ray pays when the cluster has more cores than this
machine (NTU-120's ~114k files on several nodes), or when the driver must not do the parsing.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable, Iterator

import ray

from crossmoco.datasets.preprocess import Mapper
from crossmoco.datasets.preprocess_plan import Task

log = logging.getLogger(__name__)
BATCHES_PER_CPU = 8  # small enough batches to spread evenly, large enough to hide each task's overhead
MAX_BATCH = 256


def _run_batch(fn: Callable, tasks: list[Task]) -> list:
    return [fn(t) for t in tasks]


def ray_mapper(batch_files: int | None = None, in_flight_per_cpu: int = 2) -> Mapper:
    """A mapper for ``preprocess_dataset`` running on the Ray this process is connected to."""

    def run(fn: Callable, tasks: list[Task]) -> Iterator:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = batch_files or max(1, min(MAX_BATCH, math.ceil(len(tasks) / (cpus * BATCHES_PER_CPU))))
        batches = iter(tasks[i : i + size] for i in range(0, len(tasks), size))
        remote = ray.remote(num_cpus=1)(_run_batch)
        pending: collections.deque = collections.deque()
        for batch in batches:
            pending.append(remote.remote(fn, batch))
            if len(pending) >= cpus * in_flight_per_cpu:
                break
        log.info("preprocess on Ray: %d files in batches of %d over %d CPUs", len(tasks), size, cpus)
        while pending:
            done = ray.get(pending.popleft())
            nxt = next(batches, None)
            if nxt is not None:
                pending.append(remote.remote(fn, nxt))
            yield from done

    return run
