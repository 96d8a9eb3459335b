"""Pretraining-step throughput on this machine: CrossMoCo vs a reference-style (CrosSCLR) step.

    .venv/bin/python bench/bench_step.py                       # NW-UCLA shapes, every variant the hardware runs
    .venv/bin/python bench/bench_step.py --dataset ntu --batch 64 --variants ours-fp32,reference-fp32
    .venv/bin/python bench/bench_step.py --allocator           # + the fp32 steps with/without the glibc env
    .venv/bin/python bench/bench_step.py --device cuda         # the same on a GPU

Shapes: ``--dataset ntu`` is the NTU layout (V = 25, M = 2), ``ucla`` NW-UCLA's (V = 20, M = 1);
T = 50, three streams, K = 16384 (§IV-B), the project's default model (ST-MLP on the base encoder,
streams stacked into grouped kernels, channels-last activations; the ``-nchw`` variants are the same
step in NCHW memory, ``encoder.channels_last=false``).

What it prints, in order:

1. The matmul peak of each precision the hardware has natively (``training.precision.native_bf16``).
   A precision it lacks is skipped, and says so: PyTorch emulates bf16 without AMX-BF16 /
   AVX512-BF16, and one 2048^3 bf16 matmul then took over 60 s (issue #32). ``--emulated-bf16``
   measures it anyway. The matmul size grows from 256 only while one multiply stays short.
2. FLOPs per 3-stream sample, part by part, ours beside the reference's (``bench/flop_account.py``:
   query encoders forward and backward, key encoders forward, the projectors, the ST-MLP head, the
   loss), the pieces' sum beside the whole step counted at once, and torch's counter as shipped,
   which counts a grouped convolution's weight gradient three times (our 8.43 GFLOP on NW-UCLA).
3. Per variant: samples/s, corrected GFLOP per sample, achieved GFLOP/s and its fraction of the
   matmul peak of the variant's own precision. Each variant runs in a child process of its own
   (3 warm-up steps, then the timed ones), killed after ``--cap`` seconds: no measurement waits longer.
4. The ratio lines the targets are stated in: samples/s over the reference's (what a user waits on)
   beside the GFLOP/s ratio, and the fraction of the peak; the issue's targets beside the fastest
   precision this hardware has (native bf16: >= 5x, >= 60% of the bf16 peak; else fp32: >= 1.8x,
   >= 80% of the fp32 peak).

``--allocator`` re-runs the fp32 variants with and without ``training.runtime.allocator_env()``
(glibc reads it at start-up) and reports minor page faults.
"""

from __future__ import annotations

import argparse
import json
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

from flop_account import counter, ordered, ours_parts, reference_parts  # noqa: E402
from reference_step import ReferenceMoCo  # noqa: E402

from crossmoco.datasets.skeleton import ntu_layout, ucla_layout  # noqa: E402
from crossmoco.datasets.streams import make_streams  # noqa: E402
from crossmoco.models.config import ContrastiveConfig, EncoderConfig  # noqa: E402
from crossmoco.models.graph import SkeletonGraph  # noqa: E402
from crossmoco.models.losses import weighted_streams  # noqa: E402
from crossmoco.models.registry import build_model  # noqa: E402
from crossmoco.training.precision import EMULATED_COST, native_bf16  # noqa: E402
from crossmoco.training.runtime import allocator_env, autocast, compile_encoders_, tune_allocator_  # noqa: E402

STREAMS = ("joint", "motion", "bone")
VARIANTS = ("ours-fp32", "ours-fp32-nchw", "ours-bf16", "ours-bf16-nchw", "ours-bf16-compile", "reference-fp32")
TARGETS = {"bf16": (5.0, 0.60), "fp32": (1.8, 0.80)}  # issue #32: x the reference's samples/s, fraction of peak
SHAPES = {"ntu": (ntu_layout(), 2), "ucla": (ucla_layout(), 1)}  # layout, bodies
Step = Callable[[dict, dict], None]


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def precision_of(variant: str) -> str:
    return "bf16" if "-bf16" in variant else "fp32"


def matmul_peak(dtype: torch.dtype, budget_s: float) -> tuple[float, int]:
    """(GFLOP/s, n) of the best of a few n x n x n matmuls; n grows from 256 to 2048 (4096 on a GPU) while
    one multiply stays under 1/20 of ``budget_s``, so an emulated dtype reads low instead of hanging."""
    n_max = 4096 if DEVICE.type == "cuda" else 2048
    n, start = 256, time.perf_counter()
    while True:
        a, b = (torch.randn(n, n, dtype=dtype, device=DEVICE) for _ in range(2))
        best = float("inf")
        for _ in range(10):
            sync()
            t = time.perf_counter()
            a @ b
            sync()
            best = min(best, time.perf_counter() - t)
            if time.perf_counter() - start > budget_s / 2:
                break
        if n >= n_max or best * 8 > budget_s / 20 or time.perf_counter() - start > budget_s / 2:
            return 2 * n**3 / best / 1e9, n
        n *= 2


def make_inputs(batch: int, frames: int) -> tuple[dict, dict]:
    layout, bodies = SHAPES[args.dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, frames, layout.num_joints, bodies, generator=g)
    views = [make_streams(x + 0.01 * torch.randn(x.shape, generator=g), layout.parents0) for _ in "12"]
    return ({k: v.to(DEVICE) for k, v in views[0].items()}, {k: v.to(DEVICE) for k, v in views[1].items()})


def ours_model(channels_last: bool = True) -> torch.nn.Module:
    layout, _ = SHAPES[args.dataset]
    graph = SkeletonGraph(layout.num_joints, layout.edges0, layout.center0)
    enc = EncoderConfig(channels_last=channels_last)
    return build_model("crossmoco", enc, ContrastiveConfig(), graph, streams=len(STREAMS)).to(DEVICE)


def ours(precision: str, compiled: bool, channels_last: bool = True) -> Step:
    model = ours_model(channels_last)
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


def reference_models() -> dict[str, ReferenceMoCo]:
    layout, _ = SHAPES[args.dataset]
    return {s: ReferenceMoCo(layout.num_joints, layout.edges0, layout.center0).to(DEVICE) for s in STREAMS}


def reference() -> Step:
    models = reference_models()
    params = [p for m in models.values() for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)

    def step(x1: dict, x2: dict) -> None:
        loss = sum(models[s](x1[s], x2[s]) for s in STREAMS)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def build(variant: str) -> Step:
    if variant == "reference-fp32":
        return reference()
    return ours(precision_of(variant), compiled=variant.endswith("compile"), channels_last="-nchw" not in variant)


def account(batch: int = 4) -> dict[str, dict[str, float]]:
    """GFLOP per sample, part by part, of ours and the reference (fp32, eager: the same math as every
    variant), with the whole step counted at once, corrected and as torch ships its counter."""
    x1, x2 = make_inputs(batch, args.frames)
    stack = [torch.stack([v[s] for s in STREAMS], dim=1) for v in (x1, x2)]
    model = ours_model()
    parts = {"ours": ours_parts(model, *stack, torch.ones(len(STREAMS), device=DEVICE)),
             "reference": reference_parts(reference_models(), x1, x2)}  # fmt: skip
    for kind, variant in (("ours", "ours-fp32"), ("reference", "reference-fp32")):
        for corrected, label in ((True, "whole step, counted at once"), (False, "torch's counter as shipped")):
            step = build(variant)
            with counter(corrected) as c:
                step(x1, x2)
            parts[kind][label] = c.get_total_flops()
    return {kind: {k: v / batch / 1e9 for k, v in p.items()} for kind, p in parts.items()}


def print_account(gf: dict[str, dict[str, float]]) -> None:
    ours_p, ref_p = gf["ours"], gf["reference"]
    whole, shipped = "whole step, counted at once", "torch's counter as shipped"
    names = ordered([k for k in {**ours_p, **ref_p} if k not in (whole, shipped)])
    print(f"FLOPs per 3-stream sample (GFLOP, {args.dataset} shapes; grouped convolutions' weight gradients "
          "counted once, bench/flop_account.py):")
    print(f"  {'part':34s} {'ours':>8s} {'reference':>10s}")
    for name in names:
        print(f"  {name:34s} {ours_p.get(name, 0.0):8.3f} {ref_p.get(name, 0.0):10.3f}")
    sums = [sum(p.get(k, 0.0) for k in names) for p in (ours_p, ref_p)]
    print(f"  {'sum of the parts':34s} {sums[0]:8.3f} {sums[1]:10.3f}")
    for label in (whole, shipped):
        print(f"  {label:34s} {ours_p[label]:8.3f} {ref_p[label]:10.3f}")

    def of(p: dict[str, float], word: str) -> float:
        return sum(v for k, v in p.items() if word in k)

    own = of(ours_p, "ST-MLP head") + of(ours_p, "loss") - of(ref_p, "loss")
    saved = of(ref_p, "ST-GCN") - of(ours_p, "ST-GCN")
    print(f"  ours does {ours_p[whole] / ref_p[whole]:.2f}x the reference's work per sample (torch's counter as "
          f"shipped reads {ours_p[shipped] / ref_p[shipped]:.2f}x: it counts a groups=3 convolution's weight "
          f"gradient three times). CrossMoCo's own work beyond one MoCo per stream, the ST-MLP heads and the second "
          f"query's contrast with its bank: {own:.3f} GFLOP ({100 * own / ours_p[whole]:.1f}% of its step); the "
          f"graph convolutions, aggregating before their 1x1 convolution, do {saved:.3f} GFLOP less than the "
          "reference's" + (" (and a second ST-GCN runs: encoder.mlp_shared_backbone=false)" if
                            of(ours_p, "2nd ST-GCN") else ""), flush=True)


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


def measure_capped(variant: str, env: dict[str, str] | None = None, glibc_default: bool = False) -> dict | None:
    """``measure`` in a child process of its own, killed after ``--cap`` seconds (None: capped or failed)."""
    cmd = [sys.executable, __file__, "--measure", variant, "--batch", str(args.batch), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads), "--frames", str(args.frames),
           "--dataset", args.dataset, "--device", args.device] + (["--glibc-default"] if glibc_default else [])
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.cap)
    except subprocess.TimeoutExpired:
        print(f"{variant:17s} capped: no result within {args.cap:.0f} s (--cap); its child process was killed",
              flush=True)
        return None
    if proc.returncode != 0:
        print(f"{variant:17s} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}", flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(variant: str, r: dict, flops: float, peak: float) -> float:
    achieved = flops * r["samples_s"] / 1e9
    print(
        f"{variant:17s} {r['samples_s']:8.2f} samples/s  step {r['step_s']:7.3f} s  "
        f"warm-up {r['warmup_s']:7.1f} s  {flops / 1e9:6.2f} GFLOP/sample  {achieved:7.1f} GFLOP/s  "
        f"{100 * achieved / peak:5.1f}% of the {precision_of(variant)} peak  {r['faults']:10.0f} minor faults/step",
        flush=True,
    )
    return achieved


def ratio_lines(results: dict[str, dict], achieved: dict[str, float], peaks: dict[str, float], fastest: str) -> None:
    ref = results.get("reference-fp32")
    for variant, r in results.items():
        if variant == "reference-fp32":
            continue
        prec = precision_of(variant)
        line = f"ratio {variant}: {achieved[variant] / peaks[prec]:.2f} of the {prec} matmul peak"
        if ref:
            line += (f", {r['samples_s'] / ref['samples_s']:.2f}x the reference step's samples/s "
                     f"({achieved[variant] / achieved['reference-fp32']:.2f}x its GFLOP/s)")
        if variant == f"ours-{fastest}" and ref:
            x, frac = TARGETS[fastest]
            met = r["samples_s"] / ref["samples_s"] >= x and achieved[variant] / peaks[prec] >= frac
            where = "native bf16" if fastest == "bf16" else "no native bf16"
            line += f"; targets with {where}: >= {x}x samples/s, >= {frac:.2f} of the peak"
            line += f" ({'met' if met else 'not met'})"
        print(line)


def allocator_children() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    tuned = {**base, **allocator_env()}
    for label, env, default in (("glibc default", base, True), ("allocator_env()", tuned, False)):
        print(f"--- child processes, {label}", flush=True)
        for variant in ("ours-fp32", "reference-fp32"):
            r = measure_capped(variant, env, glibc_default=default)
            if r is not None:
                print(f"{variant:17s} {r['samples_s']:8.2f} samples/s  {r['faults']:10.0f} minor faults/step",
                      flush=True)


def child() -> None:
    """``--measure VARIANT``: one measurement, as the pipeline's training processes run (allocator tuned)."""
    if not args.glibc_default:
        tune_allocator_()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(json.dumps(measure(args.measure, args.batch, args.steps, args.warmup)), flush=True)


def main() -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    native = native_bf16(DEVICE.type)
    fastest = "bf16" if native else "fp32"
    layout, bodies = SHAPES[args.dataset]
    where = torch.cuda.get_device_name(0) if DEVICE.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {args.dataset}: batch {args.batch}, T {args.frames}, "
          f"V {layout.num_joints}, M {bodies}, 3 streams, {args.steps} timed step(s) after {args.warmup} warm-up, "
          f"each variant capped at {args.cap:.0f} s")
    print(f"native bf16: {native or 'none'}; allocator env of the measured children: tuned in-process "
          f"(training.runtime.tune_allocator_)", flush=True)
    peaks, sizes = {}, {}
    for prec, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        if prec == "bf16" and not native and not args.emulated_bf16:
            continue
        peaks[prec], sizes[prec] = matmul_peak(dtype, args.cap)
    print("matmul peak: " + ", ".join(f"{p} {g:.0f} GFLOP/s ({sizes[p]}^3)" for p, g in peaks.items())
          + ("" if "bf16" in peaks else ", bf16 skipped (not native here)"), flush=True)
    gf = account()
    print_account(gf)
    results, achieved = {}, {}
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            raise SystemExit(f"unknown variant {variant!r}; expected some of {VARIANTS}")
        if precision_of(variant) not in peaks:
            print(f"{variant:17s} skipped: this {DEVICE.type} has no native bf16 (on a CPU: neither AMX-BF16 nor "
                  f"AVX512-BF16), where {EMULATED_COST}; --emulated-bf16 measures it anyway", flush=True)
            continue
        r = measure_capped(variant)
        if r is None:
            continue
        kind = "reference" if variant == "reference-fp32" else "ours"
        flops = gf[kind]["whole step, counted at once"] * 1e9
        results[variant] = r
        achieved[variant] = report(variant, r, flops, peaks[precision_of(variant)])
    ratio_lines(results, achieved, peaks, fastest)
    if args.allocator:
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
    parser.add_argument("--cap", type=float, default=300.0,
                        help="seconds one measurement may take (a variant's child process, a matmul peak)")
    parser.add_argument("--emulated-bf16", action="store_true",
                        help="measure bf16 where the hardware lacks it natively (each measurement capped)")
    parser.add_argument("--allocator", action="store_true", help="also compare the glibc env in children")
    parser.add_argument("--dataset", choices=sorted(SHAPES), default="ucla")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # a child: measure this variant, print JSON
    parser.add_argument("--glibc-default", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DEVICE = torch.device(args.device)
    if args.measure:
        child()
    else:
        main()
