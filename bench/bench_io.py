"""Data I/O speed: ours beside the way st-gcn does it (bench/stgcn_reference.py), on real NTU files.

    .venv/bin/python bench/bench_io.py [--raw DIR] [--repeat 3] [--tile 60] [--copies 8]

1. parse:        raw ``.skeleton`` -> (C, T, V, M) array, one process (files/s, frames/s).
2. raw->store:   ours: ``preprocess_dataset`` (parse, denoise, centre, resize to 50, Parquet
                 shards + manifest) on 1 process and on all cores, over ``--copies`` x the files;
                 reference: st-gcn's gendata (parse, pad to 300 frames, one ``np.save``).
3. store->batch: samples/s of batches of 64 through a torch DataLoader. Ours: ``open_split`` over
                 Parquet shards; reference: st-gcn's feeder, ``np.load(mmap_mode="r")`` of one big
                 array and ``np.array(data[i])`` per sample. Both hold the same 50-frame samples,
                 tiled ``--tile`` times so that the timing is not dominated by start-up.
Best of ``--repeat`` runs; timings are wall clock on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stgcn_reference import gendata, read_xyz

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.loader import open_split
from crossmoco.datasets.locations import data_root
from crossmoco.datasets.manifest import read_manifest, write_manifest
from crossmoco.datasets.ntu import read_ntu_skeleton
from crossmoco.datasets.preprocess import preprocess_dataset
from crossmoco.datasets.shards import write_shard


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def row(what: str, ours: float, ref: float, unit: str) -> None:
    print(f"{what:<34} ours {ours:>10,.0f} {unit}   st-gcn way {ref:>10,.0f} {unit}   ratio {ours / ref:5.1f}x")


def bench_parse(files: list[Path], repeat: int) -> None:
    frames = sum(read_ntu_skeleton(f).num_frames for f in files)
    ours = best(lambda: [read_ntu_skeleton(f) for f in files], repeat)
    ref = best(lambda: [read_xyz(f) for f in files], repeat)
    row("parse, 1 process", len(files) / ours, len(files) / ref, "files/s")
    row("parse, 1 process (frames)", frames / ours, frames / ref, "frames/s")


def tiled_raw(files: list[Path], out: Path, copies: int) -> Path:
    """``copies`` x the raw files as symlinks under new setup numbers (S101...), so a process pool's
    start-up (spawn: a fresh interpreter per worker) is amortised as on a real dataset."""
    out.mkdir(parents=True)
    for k in range(copies):
        for f in files:
            (out / f"S{101 + k:03d}{f.name[4:]}").symlink_to(f.resolve())
    return out


def bench_raw_to_store(files: list[Path], tmp: Path, repeat: int, copies: int) -> Path:
    runs = iter(range(10**6))
    raw = tiled_raw(files, tmp / "raw", copies)
    n = len(files) * copies

    def ours(workers: int) -> Path:
        return preprocess_dataset("ntu60", raw, tmp / f"ours{next(runs)}", PreprocessConfig(), workers=workers)

    ref = len(files) / best(lambda: gendata(files, tmp / f"ref{next(runs)}.npy"), repeat)
    row(f"raw -> store, 1 process ({n})", n / best(lambda: ours(1), repeat), ref, "files/s")
    cores = os.cpu_count() or 1
    row(f"raw -> store, {cores} processes ({n})", n / best(lambda: ours(cores), repeat), ref, "files/s")
    return preprocess_dataset("ntu60", Path(files[0]).parent, tmp / "real", PreprocessConfig(), workers=1)


def tile_shards(shard_dir: Path, out: Path, times: int) -> tuple[Path, np.ndarray]:
    """The shards of ``shard_dir`` repeated ``times`` times (a larger copy with its own manifest)."""
    manifest = read_manifest(shard_dir)
    table = pa.concat_tables([pq.read_table(shard_dir / s["file"]) for s in manifest["shards"]] * times)
    out.mkdir(parents=True)
    shards = [write_shard(out / f"shard-{i:05d}.parquet", table.slice(o, 1024))
              for i, o in enumerate(range(0, table.num_rows, 1024))]  # fmt: skip
    write_manifest(out, {**manifest, "shards": shards, "num_rows": table.num_rows})
    data = np.stack([np.frombuffer(b, np.float32) for b in table.column("data").to_pylist()])
    return out, data.reshape(-1, *manifest["shape"])


class StgcnFeeder(torch.utils.data.Dataset):
    """st-gcn's feeder: one np.load'ed array (memory-mapped), a copy of one sample per item."""

    def __init__(self, path: Path, labels: np.ndarray) -> None:
        self.data, self.labels = np.load(path, mmap_mode="r"), labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return np.array(self.data[i]), int(self.labels[i])


def bench_store_to_batch(shard_dir: Path, tmp: Path, tile: int, repeat: int) -> None:
    big_dir, data = tile_shards(shard_dir, tmp / "tiled", tile)
    np.save(tmp / "tiled.npy", data)
    ours_ds = open_split(big_dir, "xview", "test")
    keep = np.flatnonzero(np.concatenate([pq.read_table(big_dir / s["file"], columns=["split_xview"])
                                          .column(0).to_numpy(zero_copy_only=False) == "test"
                                          for s in read_manifest(big_dir)["shards"]]))  # fmt: skip
    ref_ds = torch.utils.data.Subset(StgcnFeeder(tmp / "tiled.npy", np.zeros(len(data), np.int64)), keep)

    def drain(ds) -> None:
        for _ in torch.utils.data.DataLoader(ds, batch_size=64, num_workers=0):
            pass

    n = len(ours_ds)
    row(f"store -> batch of 64 ({n} samples)", n / best(lambda: drain(ours_ds), repeat),
        n / best(lambda: drain(ref_ds), repeat), "samples/s")  # fmt: skip
    opened = best(lambda: open_split(big_dir, "xview", "test"), repeat)
    print(f"{'open_split (verify SHA-256, decode)':<34} {opened * 1e3:.0f} ms for {len(data)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=data_root() / "ntu" / "raw")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tile", type=int, default=60, help="copies of the shards for store -> batch")
    parser.add_argument("--copies", type=int, default=8, help="copies of the raw files for raw -> store")
    args = parser.parse_args()
    files = sorted(args.raw.glob("*.skeleton"))
    print(f"{len(files)} NTU files from {args.raw}, {os.cpu_count()} cores, torch {torch.__version__}")
    bench_parse(files, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        shard_dir = bench_raw_to_store(files, Path(tmp), args.repeat, args.copies)
        bench_store_to_batch(shard_dir, Path(tmp), args.tile, args.repeat)


if __name__ == "__main__":
    main()
