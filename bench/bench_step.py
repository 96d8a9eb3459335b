"""Pretraining-step throughput on this machine: CrossMoCo vs a reference-style (CrosSCLR) step.

    .venv/bin/python bench/bench_step.py                      # paper shapes, a few steps
    .venv/bin/python bench/bench_step.py --batch 32 --steps 2 --variants ours-fp32,reference-fp32
    .venv/bin/python bench/bench_step.py --allocator          # + both steps with/without the glibc env

Shapes: NTU layout (V = 25, M = 2), T = 50, three streams, batch 128, K = 16384 (§IV-B). For each
variant it prints samples/s, model FLOPs per 3-stream sample (torch.utils.flop_counter, forward +
backward, counted on a batch of 4 and divided), achieved GFLOP/s, and the fraction of the fp32
matmul peak measured at the start of the same run; then the ratio of achieved GFLOP/s to the
reference-style step. ``--allocator`` re-runs the fp32 variants in child processes with and without
``models.runtime.allocator_env()`` (glibc reads it at start-up) and reports minor page faults.
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

from datasets.skeleton import ntu_layout  # noqa: E402
from datasets.streams import make_streams  # noqa: E402
from models.config import ContrastiveConfig, EncoderConfig  # noqa: E402
from models.registry import build_model  # noqa: E402
from models.runtime import allocator_env, autocast, compile_encoders_  # noqa: E402

STREAMS = ("joint", "motion", "bone")
VARIANTS = ("ours-fp32", "ours-bf16", "ours-compile", "reference-fp32")


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    """GFLOP/s of an n x n x n matmul on this machine (best of ``reps``)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def make_inputs(batch: int, frames: int) -> tuple[dict, dict]:
    layout = ntu_layout()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, frames, 25, 2, generator=g)
    views = [make_streams(x + 0.01 * torch.randn(x.shape, generator=g), layout.parents0) for _ in "12"]
    return views[0], views[1]


def ours(precision: str, compiled: bool) -> Callable[[dict, dict], None]:
    layout = ntu_layout()
    model = build_model(
        EncoderConfig(), ContrastiveConfig(), num_joints=25, edges=layout.edges0, center=layout.center0
    )
    if compiled:
        compile_encoders_(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def step(x1: dict, x2: dict) -> None:  # Algorithm 1, one iteration
        model.momentum_update(0.999)
        with autocast(precision, "cpu"):
            out = model(x1, x2)
        loss = model.loss(out, crossed=True).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.enqueue(out)

    return step


def reference() -> Callable[[dict, dict], None]:
    layout = ntu_layout()
    models = {s: ReferenceMoCo(25, layout.edges0, layout.center0) for s in STREAMS}
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
    return ours("bf16" if variant == "ours-bf16" else "fp32", compiled=variant == "ours-compile")


def flops_per_sample(variant: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    step = build(variant.replace("compile", "fp32"))  # the same math; the counter needs eager mode
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
    first = time.perf_counter() - t0
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x1, x2)
    dt = (time.perf_counter() - t0) / steps
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / steps
    return {"samples_s": batch / dt, "step_s": dt, "warmup_s": first, "faults": faults}


def report(variant: str, r: dict, flops: float, peak: float) -> float:
    achieved = flops * r["samples_s"] / 1e9
    print(
        f"{variant:15s} {r['samples_s']:8.2f} samples/s  step {r['step_s']:7.2f} s  "
        f"warm-up {r['warmup_s']:7.1f} s  {flops / 1e9:6.2f} GFLOP/sample  {achieved:7.1f} GFLOP/s  "
        f"{100 * achieved / peak:5.1f}% of fp32 peak  {r['faults']:10.0f} minor faults/step",
        flush=True,
    )
    return achieved


def allocator_children() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    for label, env in (("glibc default", base), ("allocator_env()", {**base, **allocator_env()})):
        print(f"--- child process, {label}", flush=True)
        cmd = [sys.executable, __file__, "--batch", str(args.batch), "--steps", str(args.steps)]
        cmd += ["--warmup", str(args.warmup), "--threads", str(args.threads), "--frames", str(args.frames)]
        cmd += ["--variants", "ours-fp32,reference-fp32", "--child"]
        subprocess.run(cmd, env=env, check=True)


def main() -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_peak(torch.float32)
    if not args.child:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, T {args.frames}, "
              f"V 25, M 2, 3 streams, {args.steps} timed step(s) after {args.warmup} warm-up")  # fmt: skip
        print(f"matmul 2048^3: fp32 {peak:.0f} GFLOP/s, bf16 {matmul_peak(torch.bfloat16):.0f} GFLOP/s")
        env = {k: os.environ.get(k) for k in allocator_env()}
        print(f"allocator env in this process: {env}", flush=True)
    achieved = {}
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            raise SystemExit(f"unknown variant {variant!r}; expected some of {VARIANTS}")
        flops = flops_per_sample(variant)
        achieved[variant] = report(variant, measure(variant, args.batch, args.steps, args.warmup), flops, peak)
    if "reference-fp32" in achieved:
        ref = achieved["reference-fp32"]
        for variant, a in achieved.items():
            if variant != "reference-fp32":
                print(f"achieved GFLOP/s ratio {variant} / reference-fp32: {a / ref:.2f}")
    if args.allocator and not args.child:
        allocator_children()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    parser.add_argument("--allocator", action="store_true", help="also compare the glibc env in children")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    main()
