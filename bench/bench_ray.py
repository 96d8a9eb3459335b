"""Pretraining through the pipeline's Ray Train path (1 and 2 workers) vs the same loop in one process.

    .venv/bin/python bench/bench_ray.py [--epochs 3] [--profile smoke]

The reference is how this field's code trains: one process, no Ray (CrosSCLR's processor). For
each setting it prints steady samples/s (from the loop's own per-epoch timing), the wall time of
the whole run, and the fixed cost (wall time minus time spent in epochs: Ray start-up, worker
group, process group, checkpoint persistence), then the ratios to the single-process loop.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from crossmoco.pipeline.config_file import load_config  # noqa: E402
from crossmoco.pipeline.data import load_dataset  # noqa: E402
from crossmoco.pipeline.embedded import ensure_synthetic_shards  # noqa: E402
from crossmoco.training.engine import WorkerContext, run_pretraining  # noqa: E402


def _epoch_seconds(history: list[dict[str, float]], samples: int) -> float:
    return sum(samples / h["samples_per_s"] for h in history)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--profile", default="smoke")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    shards = ensure_synthetic_shards(work / "synthetic")
    base = ["data.dataset=synthetic", "data.split=xsub", f"pretrain.epochs={args.epochs}",
            "pretrain.checkpoint_every=1000"]
    cfg = load_config(args.profile, [*base, "resources.num_workers=0"])
    data = load_dataset(shards, cfg)
    x, _ = data.arrays("train")
    per_epoch = (len(x) // cfg.pretrain.batch_size) * cfg.pretrain.batch_size
    t0 = time.perf_counter()
    summary = run_pretraining(cfg, x, data.info, WorkerContext())
    wall = time.perf_counter() - t0
    rows = [("1 process, no Ray (reference)", summary.history, wall)]

    import ray

    from crossmoco.pipeline.pretraining import PretrainJob, RunHandle
    from crossmoco.pipeline.train_ray import pretrain_on_ray

    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False,
             logging_level="ERROR")  # the dashboard hosts the State API that Train's PG cleaner polls
    init_s = time.perf_counter() - t0
    for workers in (1, 2):
        wcfg = load_config(args.profile, [*base, f"resources.num_workers={workers}", "resources.cpus_per_worker=0.99"])
        t0 = time.perf_counter()
        res = pretrain_on_ray(PretrainJob(wcfg, data, RunHandle(), work / "ray", f"bench-{workers}"))
        rows.append((f"Ray Train, {workers} worker(s), DDP/gloo", res.history, time.perf_counter() - t0))
    ray.shutdown()

    print(f"{len(x)} training samples, {per_epoch} per epoch, {args.epochs} epochs, profile {args.profile}, "
          f"{os.cpu_count()} cores; ray.init took {init_s:.1f} s (not included below)")
    ref_sps = rows[0][1][-1]["samples_per_s"]
    for name, history, wall in rows:
        steady = history[-1]["samples_per_s"]
        fixed = wall - _epoch_seconds(history, per_epoch)
        print(f"{name:38s} {steady:8.1f} samples/s (last epoch)  wall {wall:6.1f} s  fixed cost {fixed:5.1f} s  "
              f"throughput vs reference {steady / ref_sps:4.2f}x")


if __name__ == "__main__":
    main()
