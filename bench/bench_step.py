"""Pretraining-step throughput on this machine: CrossMoCo vs a reference-style (CrosSCLR) step.

    .venv/bin/python bench/bench_step.py                       # NTU and NW-UCLA shapes, a few steps
    .venv/bin/python bench/bench_step.py --dataset ucla --batch 64 --variants ours-bf16,reference-fp32
    .venv/bin/python bench/bench_step.py --allocator           # + both steps with/without the glibc env
    .venv/bin/python bench/bench_step.py --device cuda         # the same on a GPU

Shapes: ``--dataset ntu`` is the NTU layout (V = 25, M = 2), ``ucla`` NW-UCLA's (V = 20, M = 1);
T = 50, three streams, K = 16384 (§IV-B), the project's default model (ST-MLP on the base encoder,
streams stacked into grouped kernels, channels-last activations; ``ours-bf16-nchw`` is the same step
in NCHW memory, ``encoder.channels_last=false``). For each variant it prints samples/s, model FLOPs per
3-stream sample (torch.utils.flop_counter, forward + backward, counted on a batch of 4 and
divided), achieved GFLOP/s, and the fraction of the best matmul peak measured at the start of the
same run (bf16 where the hardware has it); then the ratio lines the targets are stated in: each
variant's fraction of that peak and its achieved GFLOP/s over the reference-style step's.
``--allocator`` re-runs the fp32 variants in child processes with and without
``pipeline.runtime.allocator_env()`` (glibc reads it at start-up) and reports minor page faults.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from reference_step import ReferenceMoCo  # noqa: E402

from datasets.skeleton import ntu_layout, ucla_layout  # noqa: E402
from datasets.streams import make_streams  # noqa: E402
from models.config import ContrastiveConfig, EncoderConfig  # noqa: E402
from models.graph import SkeletonGraph  # noqa: E402
from models.losses import weighted_streams  # noqa: E402
from models.registry import build_model  # noqa: E402
from pipeline.runtime import allocator_env, autocast, compile_encoders_, tune_allocator_  # noqa: E402

STREAMS = ("joint", "motion", "bone")
VARIANTS = ("ours-fp32", "ours-bf16", "ours-bf16-nchw", "ours-bf16-compile", "reference-fp32")


SHAPES = {"ntu": (ntu_layout(), 2), "ucla": (ucla_layout(), 1)}  # layout, bodies


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dtype: torch.dtype, n: int = 4096, reps: int = 10) -> float:
    """GFLOP/s of an n x n x n matmul on this device (best of ``reps``)."""
    n = n if DEVICE.type == "cuda" else 2048
    a, b = (torch.randn(n, n, dtype=dtype, device=DEVICE) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def make_inputs(batch: int, frames: int) -> tuple[dict, dict]:
    layout, bodies = SHAPES[args.dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, frames, layout.num_joints, bodies, generator=g)
    views = [make_streams(x + 0.01 * torch.randn(x.shape, generator=g), layout.parents0) for _ in "12"]
    return ({k: v.to(DEVICE) for k, v in views[0].items()}, {k: v.to(DEVICE) for k, v in views[1].items()})


def ours(precision: str, compiled: bool, channels_last: bool = True) -> Callable[[dict, dict], None]:
    layout, _ = SHAPES[args.dataset]
    graph = SkeletonGraph(layout.num_joints, layout.edges0, layout.center0)
    enc = EncoderConfig(channels_last=channels_last)
    model = build_model("crossmoco", enc, ContrastiveConfig(), graph, streams=len(STREAMS)).to(DEVICE)
    if compiled:
        compile_encoders_(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    weights = torch.ones(len(STREAMS), device=DEVICE)

    def step(x1: dict, x2: dict) -> None:  # Algorithm 1, one iteration
        v1, v2 = (torch.stack([v[s] for s in STREAMS], dim=1) for v in (x1, x2))  # (N, S, C, T, V, M)
        model.momentum_update(0.999)
        with autocast(precision, DEVICE.type):
            out = model(v1, v2)
            loss = weighted_streams(model.loss(out, crossed=True), weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.enqueue(out)

    return step


def reference() -> Callable[[dict, dict], None]:
    layout, _ = SHAPES[args.dataset]
    models = {s: ReferenceMoCo(layout.num_joints, layout.edges0, layout.center0).to(DEVICE) for s in STREAMS}
    params = [p for m in models.values() for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)

    def step(x1: dict, x2: dict) -> None:
        loss = sum(models[s](x1[s], x2[s]) for s in STREAMS)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def build(variant: str) -> Callable[[dict, dict], None]:
    if variant == "reference-fp32":
        return reference()
    precision = "bf16" if variant.startswith("ours-bf16") else "fp32"
    return ours(precision, compiled=variant.endswith("compile"), channels_last=not variant.endswith("nchw"))


def flops_per_sample(variant: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    step = build(variant.removesuffix("-compile"))  # the same math; the counter needs eager mode
    x1, x2 = make_inputs(4, args.frames)
    with FlopCounterMode(display=False) as counter:
        step(x1, x2)
    return counter.get_total_flops() / 4


def measure(variant: str, batch: int, steps: int, warmup: int) -> dict:
    step = build(variant)
    x1, x2 = make_inputs(batch, args.frames)
    t0 = time.perf_counter()
    for _ in range(warmup):
        step(x1, x2)
    sync()
    first = time.perf_counter() - t0
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x1, x2)
    sync()
    dt = (time.perf_counter() - t0) / steps
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / steps
    return {"samples_s": batch / dt, "step_s": dt, "warmup_s": first, "faults": faults}


def report(variant: str, r: dict, flops: float, peak: float) -> float:
    achieved = flops * r["samples_s"] / 1e9
    print(
        f"{variant:15s} {r['samples_s']:8.2f} samples/s  step {r['step_s']:7.3f} s  "
        f"warm-up {r['warmup_s']:7.1f} s  {flops / 1e9:6.2f} GFLOP/sample  {achieved:7.1f} GFLOP/s  "
        f"{100 * achieved / peak:5.1f}% of best peak  {r['faults']:10.0f} minor faults/step",
        flush=True,
    )
    return achieved


def allocator_children() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    for label, env in (("glibc default", base), ("allocator_env()", {**base, **allocator_env()})):
        print(f"--- child process, {label}", flush=True)
        cmd = [sys.executable, __file__, "--batch", str(args.batch), "--steps", str(args.steps)]
        cmd += ["--warmup", str(args.warmup), "--threads", str(args.threads), "--frames", str(args.frames)]
        cmd += ["--variants", "ours-fp32,reference-fp32", "--dataset", args.dataset, "--child"]
        subprocess.run(cmd, env=env, check=True)


def main() -> None:
    if not args.child:  # --allocator compares the glibc default in child processes
        tune_allocator_()  # as the pipeline's training processes do; every variant (the reference too) gets it
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fp32, bf16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    peak = max(fp32, bf16)
    layout, bodies = SHAPES[args.dataset]
    if not args.child:
        where = torch.cuda.get_device_name(0) if DEVICE.type == "cuda" else f"{torch.get_num_threads()} threads"
        print(f"torch {torch.__version__}, {where}, {args.dataset}: batch {args.batch}, T {args.frames}, "
              f"V {layout.num_joints}, M {bodies}, 3 streams, {args.steps} timed step(s) after {args.warmup} warm-up")
        print(f"matmul peak: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s (best {peak:.0f})")
        env = {k: os.environ.get(k) for k in allocator_env()}
        print(f"allocator env in this process: {env}", flush=True)
    achieved = {}
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            raise SystemExit(f"unknown variant {variant!r}; expected some of {VARIANTS}")
        flops = flops_per_sample(variant)
        achieved[variant] = report(variant, measure(variant, args.batch, args.steps, args.warmup), flops, peak)
    ref = achieved.get("reference-fp32")
    for variant, a in achieved.items():
        line = f"ratio {variant}: {a / peak:.2f} of the best matmul peak (target >= 0.60)"
        if ref and variant != "reference-fp32":
            line += f", {a / ref:.2f}x the reference step's GFLOP/s (target >= 4)"
        print(line)
    if args.allocator and not args.child:
        allocator_children()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3,  # 1 left the steps page-faulting (README Benchmarks)
                        help="untimed steps first; 3 reach the steady state of both steps")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    parser.add_argument("--allocator", action="store_true", help="also compare the glibc env in children")
    parser.add_argument("--dataset", choices=sorted(SHAPES), default="ucla")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DEVICE = torch.device(args.device)
    main()
