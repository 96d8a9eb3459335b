"""Preprocessing throughput: Ray tasks (``preprocess --ray``) beside the process pool, in files/s.

    .venv/bin/python bench/bench_preprocess_ray.py [--repetitions 7] [--cpus 2] [--repeat 2]

Writes ``--repetitions`` x 450 synthetic NTU ``.skeleton`` files (7: 3,150 files), then preprocesses
them into fresh output folders with the process pool (``--cpus`` processes) and with Ray tasks on
a local Ray of ``--cpus`` CPUs (started once, outside the timing: a cluster is already up when a
user runs ``--ray``), and checks that both wrote the same bytes. Best of ``--repeat`` runs; wall
clock on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.preprocess import preprocess_dataset
from crossmoco.datasets.synthetic import generate_synthetic


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _same_bytes(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repetitions", type=int, default=7, help="synthetic repetitions (450 files each)")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    import ray

    from crossmoco.pipeline.preprocess_ray import ray_mapper
    from crossmoco.pipeline.train_ray import keep_on_loopback

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = generate_synthetic(work / "raw", seed=0, repetitions=args.repetitions)
        n = len([f for f in files if f.suffix == ".skeleton"])
        cfg = PreprocessConfig()
        runs = iter(range(10**6))

        def pool() -> Path:
            return preprocess_dataset("synthetic", work / "raw", work / f"pool-{next(runs)}", cfg, workers=args.cpus)

        print(f"{n} synthetic files, {args.cpus} CPUs ({os.cpu_count()} on the machine), best of {args.repeat}:",
              flush=True)
        t_pool = _best(pool, args.repeat)
        print(f"  process pool  {t_pool:7.2f} s  {n / t_pool:8.1f} files/s", flush=True)  # kept if Ray's part is cut
        keep_on_loopback()
        os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 object_store_memory=512 * 1024**2, runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
        try:
            mapper = ray_mapper()

            def on_ray() -> Path:
                return preprocess_dataset("synthetic", work / "raw", work / f"ray-{next(runs)}", cfg, mapper=mapper)

            on_ray()  # warm: Ray's worker processes start and import numpy/pyarrow once
            t_ray = _best(on_ray, args.repeat)
        finally:
            ray.shutdown()
        pool_out = next((work / "pool-0").iterdir())
        ray_out = next(next(work.glob("ray-*")).iterdir())
        same = _same_bytes(pool_out, ray_out)
        print(f"  Ray tasks     {t_ray:7.2f} s  {n / t_ray:8.1f} files/s   (ratio {t_pool / t_ray:.2f}x)")
        print(f"  same shards and manifest, byte for byte: {same}")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
