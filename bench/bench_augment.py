"""Speed of the input side: occlusion mask + three streams on a batch, against CrosSCLR's style.

Ours: one call per batch (datasets/streams.py, datasets/occlusion.py), batched PyTorch with an
explicit generator, as it runs inside the training step; each of the three streams gets its own
mask (Algorithm 1: x1 = aug(x) for the joint, motion and bone data).

Reference, the CrosSCLR feeder style: a Python loop over samples, NumPy per sample, as DataLoader
workers run it: ``shear`` + ``temperal_crop`` (CrosSCLR ``feeder/tools.py``), then the motion and
bone streams with a loop over the bone pairs (CrosSCLR ``feeder/ntu_feeder.py``). A second
reference runs the same occlusion mask per sample in NumPy, so the mask itself is compared too.

    .venv/bin/python bench/bench_augment.py [--batch 128] [--repeats 5] [--device cpu] [--threads 1]

One torch thread by default: the NumPy reference is single-threaded per worker, and on a shared
2-core machine two OpenMP threads contend with every other process and run 10x slower.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np
import torch

from crossmoco.datasets.augment import augment
from crossmoco.datasets.config import AugmentConfig, OcclusionConfig
from crossmoco.datasets.occlusion import occlusion_mask
from crossmoco.datasets.skeleton import ntu_layout
from crossmoco.datasets.streams import make_streams

LAYOUT = ntu_layout()
BONES = LAYOUT.edges  # 1-based (child, parent), as CrosSCLR's ntu_pairs


def crossclr_shear(data: np.ndarray, r: float = 0.5) -> np.ndarray:
    s1 = [random.uniform(-r, r) for _ in range(3)]
    s2 = [random.uniform(-r, r) for _ in range(3)]
    rot = np.array([[1, s1[0], s2[0]], [s1[1], 1, s2[1]], [s1[2], s2[2], 1]]).transpose()
    return np.dot(data.transpose([1, 2, 3, 0]), rot).transpose(3, 0, 1, 2)


def crossclr_crop(data: np.ndarray, ratio: int = 6) -> np.ndarray:
    t = data.shape[1]
    pad = t // ratio
    start = np.random.randint(0, pad * 2 + 1)
    data = np.concatenate((data[:, :pad][:, ::-1], data, data[:, -pad:][:, ::-1]), axis=1)
    return data[:, start : start + t]


def crossclr_streams(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    motion = np.zeros_like(data)
    motion[:, :-1] = data[:, 1:] - data[:, :-1]
    bone = np.zeros_like(data)
    for v1, v2 in BONES:
        bone[:, :, v1 - 1] = data[:, :, v1 - 1] - data[:, :, v2 - 1]
    return data, motion, bone


def numpy_occlusion(data: np.ndarray, r: float = 0.6, beta: float = 0.5) -> np.ndarray:
    """Eqs. 11-14 for one (C, T, V, M) sample, the obvious per-sample way (loops over frames)."""
    _, t, v, m = data.shape
    out = data.copy()
    children = [[ch for ch, p in LAYOUT.edges0 if p == j] for j in range(v)]
    for f in range(t):
        for b in range(m):
            for j in np.random.choice(v, int(r * v + 0.5), replace=False):
                p = LAYOUT.parents0[j]
                out[:, f, [j, p if p != j else random.choice(children[j])], b] = 0
    out[:, np.random.choice(t, int(beta * t + 0.5), replace=False)] = 0
    return out


def reference_shear_crop(batch: np.ndarray) -> None:
    for sample in batch:
        crossclr_streams(crossclr_crop(crossclr_shear(sample)))


def reference_occlusion(batch: np.ndarray) -> None:
    for sample in batch:
        joint, motion, bone = crossclr_streams(sample)
        for stream in (joint, motion, bone):
            numpy_occlusion(stream)


def ours(x: torch.Tensor, g: torch.Generator, cfg: OcclusionConfig) -> None:
    for stream in make_streams(x, LAYOUT.parents0).values():
        occlusion_mask(stream, LAYOUT.parents0, cfg, g)


def ours_shear_crop(x: torch.Tensor, g: torch.Generator, cfg: AugmentConfig) -> None:
    augment(x, LAYOUT.parents0, cfg, g)
    make_streams(x, LAYOUT.parents0)


def samples_per_s(fn: Callable[[], None], n: int, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: like one DataLoader worker)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    np.random.seed(0)
    batch = np.random.default_rng(0).normal(size=(args.batch, 3, 50, 25, 2)).astype(np.float32)
    x = torch.from_numpy(batch).to(args.device)
    g = torch.Generator(device=args.device).manual_seed(0)
    cfg = OcclusionConfig()
    shape = "x".join(map(str, batch.shape))
    ours_rate = samples_per_s(lambda: ours(x, g, cfg), args.batch, args.repeats)
    ours_sc = samples_per_s(lambda: ours_shear_crop(x, g, AugmentConfig(steps=("shear", "crop"))), args.batch,
                            args.repeats)  # fmt: skip
    ref_sc = samples_per_s(lambda: reference_shear_crop(batch), args.batch, args.repeats)
    ref_occ = samples_per_s(lambda: reference_occlusion(batch), args.batch, args.repeats)
    print(f"batch {shape} float32, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}")
    print(f"ours: occlusion mask x 3 streams, batched torch          {ours_rate:12.0f} samples/s")
    print(f"ours: shear+crop + 3 streams, batched torch               {ours_sc:12.0f} samples/s")
    print(f"reference: CrosSCLR shear+crop+streams, per-sample numpy {ref_sc:12.0f} samples/s  "
          f"(ours shear+crop / reference = {ours_sc / ref_sc:.1f}x; ours occlusion / reference = "
          f"{ours_rate / ref_sc:.1f}x)")  # fmt: skip
    print(f"reference: occlusion x 3 streams, per-sample numpy       {ref_occ:12.0f} samples/s  "
          f"(ours / reference = {ours_rate / ref_occ:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
