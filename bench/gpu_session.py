"""One prepared script for a lent GPU machine: the step benchmark on CUDA, then the `paper`-profile
NW-UCLA Table V row, everything written under OUT (logs, the results file, the MLflow store).

    python bench/gpu_session.py --ucla RAW_UCLA_DIR --out $OUT            # on the GPU machine
    python bench/gpu_session.py --tiny --out /tmp/gpu-dry-run             # the same steps on CPU, tiny

Steps, each with its own wall-clock budget so the whole fits a short device lease:
1. the device and the software (``nvidia-smi``, torch, CUDA);
2. ``bench/bench_step.py --device cuda`` for NW-UCLA and NTU shapes (samples/s, achieved GFLOP/s,
   fraction of the device's measured bf16 matmul peak, ratio to the reference step);
3. preprocessing NW-UCLA, then ``reproduce table5-crossmoco-ucla --profile paper`` (300 epochs at
   batch 128, K = 16384, m = 0.999, cross-training from epoch 150) in one process on the GPU, with
   the paper profile's kNN validation monitor; the results file lands in OUT/results/.

``--tiny`` swaps in the synthetic dataset, the smoke profile's sizes and the CPU, so the script can
be tested where no GPU is lent (it is, in tests/bench/test_gpu_session.py, marked slow). Nothing
here fakes a GPU figure: on CPU the outputs say cpu.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], log: Path, budget_s: int) -> int:
    """Run ``cmd`` with its output in ``log``; a command past its budget is stopped (rc 124)."""
    print(f"$ {' '.join(cmd)}  (budget {budget_s} s, log {log.name})", flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, timeout=budget_s).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    print(f"  -> rc {rc} after {time.perf_counter() - start:.0f} s", flush=True)
    return rc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for every output (e.g. the device's $OUT)")
    p.add_argument("--ucla", type=Path, help="raw NW-UCLA all_sqe folder (not needed with --tiny)")
    p.add_argument("--tiny", action="store_true", help="CPU, synthetic data, smoke sizes: test the script")
    args = p.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    device = "cpu" if args.tiny else "cuda"
    if shutil.which("nvidia-smi"):
        run(["nvidia-smi"], out / "nvidia-smi.txt", 30)
    run([py, "-c", "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"],
        out / "torch.txt", 60)  # fmt: skip
    bench = [py, "bench/bench_step.py", "--device", device, "--variants", "ours-bf16,ours-fp32,reference-fp32"]
    sizes = ["--batch", "8", "--steps", "1", "--frames", "16"] if args.tiny else ["--batch", "128", "--steps", "10",
                                                                               "--warmup", "3"]  # fmt: skip
    for dataset in ("ucla", "ntu"):
        run([*bench, "--dataset", dataset, *sizes], out / f"bench_step_{dataset}.txt", 300)
    if args.tiny:
        data = ["--data", str(out / "synthetic-shards")]
        run([py, "-m", "pipeline", "synth", str(out / "synthetic-raw")], out / "synth.txt", 300)
        raw, shards = str(out / "synthetic-raw"), str(out / "synthetic-shards")
        run([py, "-m", "pipeline", "preprocess", "synthetic", raw, shards], out / "preprocess.txt", 300)
        row = ["table5-crossmoco-ucla", "--profile", "smoke", "--set", "data.dataset=synthetic",
               "--set", "data.split=xsub"]  # fmt: skip
    else:
        if args.ucla is None:
            p.error("--ucla RAW_DIR is needed on the GPU machine")
        data = ["--data", str(out / "ucla-shards")]
        run([py, "-m", "pipeline", "preprocess", "ucla", str(args.ucla), str(out / "ucla-shards")],
            out / "preprocess.txt", 120)  # fmt: skip
        row = ["table5-crossmoco-ucla", "--profile", "paper"]
    resolved = sorted((out / data[1].rsplit("/", 1)[1]).glob("*/manifest.json"))
    if not resolved:
        print("no preprocessed dataset: see preprocess.txt", flush=True)
        return 1
    data[1] = str(resolved[0].parent)
    cmd = [py, "-m", "pipeline", "reproduce", *row, *data, "--run-dir", str(out / "runs"), "--record",
           "--set", "resources.num_workers=0", "--set", f"resources.use_gpu={str(not args.tiny).lower()}"]
    rc = run(cmd, out / "reproduce.txt", 1800)
    results = ROOT / "results"
    if results.is_dir():
        shutil.copytree(results, out / "results", dirs_exist_ok=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
