"""One prepared script for a lent GPU machine: the step benchmark on CUDA, then the `paper`-profile
NW-UCLA Table V row, sized to the device tool's limits (a command runs at most 600 s, at most 8
files come back from $OUT, the session has 15 minutes of device time in all).

On the device machine (the repository root; ``../shared`` does not travel, so the shards do):

    # here, once: mkdir -p .device && cp -r <ucla shards dir> .device/ucla && echo /.device/ >> .git/info/exclude
    # device run, carry [".device"], timeout_s 590:
    python bench/gpu_session.py --data .device/ucla --out $OUT --budget 560
    # a second call (same warm machine) resumes the row from its last checkpoint:
    python bench/gpu_session.py --data .device/ucla --out $OUT --budget 560 --skip-bench

    python bench/gpu_session.py --tiny --out /tmp/gpu-dry-run       # the same steps on CPU, tiny

Steps, each given what is left of ``--budget``:
1. the device and the software (``nvidia-smi``, torch, CUDA);
2. ``bench/bench_step.py --device cuda`` for NW-UCLA and NTU shapes (samples/s, achieved GFLOP/s,
   fraction of the device's measured bf16 matmul peak, ratio to the reference step);
3. ``reproduce table5-crossmoco-ucla --profile paper --record`` (300 epochs at batch 128, K = 16384,
   m = 0.999, cross-training from epoch 150) in one process on the GPU. Its run directory is
   ``runs/gpu-session`` in the repository (ignored, kept between calls on a warm machine), so a row cut
   off by the budget resumes from its last checkpoint (every ``pretrain.checkpoint_every`` epochs) on
   the next call instead of starting again.

What comes back in OUT (3 files, under the tool's 8): ``session.log`` (every step's output, in order,
with its exit code and wall time), ``mlflow.db`` (the run directory's store: the chain, its curves),
and ``results/<row>-paper.csv`` once the row finished. ``--tiny`` swaps in the synthetic dataset, the
smoke profile's sizes and the CPU, so the script is tested where no GPU is lent
(tests/bench/test_gpu_session.py, marked slow). Nothing here fakes a GPU figure: on CPU the log says cpu.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW = "table5-crossmoco-ucla"
MARGIN_S = 20  # left at the end of the budget to copy the outputs into OUT


class Session:
    """The steps' shared log and what is left of the budget."""

    def __init__(self, log: Path, budget_s: float) -> None:
        self.log, self.deadline = log, time.monotonic() + budget_s

    def left(self) -> int:
        return int(self.deadline - time.monotonic() - MARGIN_S)

    def run(self, cmd: list[str], cap_s: int) -> int:
        """Run ``cmd`` with its output appended to the log; stopped (rc 124) past ``cap_s`` or the budget."""
        budget = min(cap_s, self.left())
        line = f"$ {' '.join(cmd)}  (budget {budget} s)"
        print(line, flush=True)
        if budget <= 0:
            with self.log.open("a") as out:
                out.write(f"\n{line}\n-> skipped: no budget left\n")
            print("  -> skipped: no budget left", flush=True)
            return 124
        start = time.perf_counter()
        with self.log.open("a") as out:
            out.write(f"\n{line}\n")
            out.flush()
            try:
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, timeout=budget).returncode
            except subprocess.TimeoutExpired:
                rc = 124
            out.write(f"-> rc {rc} after {time.perf_counter() - start:.0f} s\n")
        print(f"  -> rc {rc} after {time.perf_counter() - start:.0f} s", flush=True)
        return rc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for what comes back (the device's $OUT)")
    p.add_argument("--data", type=Path, help="preprocessed NW-UCLA shards (preprocess's OUT or the dataset folder)")
    p.add_argument("--ucla", type=Path, help="or the raw NW-UCLA folder, preprocessed first (into the run dir)")
    p.add_argument("--budget", type=float, default=560, help="seconds this call may take in all")
    p.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "gpu-session",
                   help="the row's run directory, kept between calls so a cut-off row resumes")
    p.add_argument("--skip-bench", action="store_true", help="only the row (e.g. a second call resuming it)")
    p.add_argument("--tiny", action="store_true", help="CPU, synthetic data, smoke sizes: test the script")
    args = p.parse_args()
    out, run_dir = args.out.resolve(), args.run_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    s = Session(out / "session.log", args.budget)
    py = sys.executable
    device = "cpu" if args.tiny else "cuda"
    if shutil.which("nvidia-smi"):
        s.run(["nvidia-smi"], 30)
    s.run([py, "-c", "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, "
                     "'available', torch.cuda.is_available())"], 60)  # fmt: skip
    if not args.skip_bench:
        bench = [py, "bench/bench_step.py", "--device", device, "--variants", "ours-bf16,ours-fp32,reference-fp32"]
        sizes = (["--batch", "8", "--steps", "1", "--frames", "16"] if args.tiny
                 else ["--batch", "128", "--steps", "10", "--warmup", "3"])  # fmt: skip
        for dataset in ("ucla", "ntu"):
            s.run([*bench, "--dataset", dataset, *sizes], 120)
    if args.tiny:
        raw, shards = run_dir / "synthetic-raw", run_dir / "synthetic-shards"
        if not (shards.is_dir() and any(shards.glob("*/manifest.json"))):
            s.run([py, "-m", "pipeline", "synth", str(raw)], 300)
            s.run([py, "-m", "pipeline", "preprocess", "synthetic", str(raw), str(shards)], 300)
        data = shards
        row = [ROW, "--profile", "smoke", "--set", "data.dataset=synthetic", "--set", "data.split=xsub"]
    else:
        if args.data is None and args.ucla is None:
            p.error("give --data SHARDS (or --ucla RAW_DIR) on the GPU machine")
        data = args.data.resolve() if args.data else run_dir / "ucla-shards"
        if args.data is None and not any(data.glob("*/manifest.json")):
            s.run([py, "-m", "pipeline", "preprocess", "ucla", str(args.ucla), str(data)], 180)
        row = [ROW, "--profile", "paper"]
    cmd = [py, "-m", "pipeline", "reproduce", *row, "--data", str(data), "--run-dir", str(run_dir), "--record",
           "--set", "resources.num_workers=0", "--set", f"resources.use_gpu={str(not args.tiny).lower()}"]
    rc = s.run(cmd, 10**6)
    if (run_dir / "mlflow.db").is_file():
        shutil.copy2(run_dir / "mlflow.db", out / "mlflow.db")
    for csv in (ROOT / "results").glob(f"{ROW}-paper.csv"):
        if rc == 0 and not args.tiny:  # the row recorded in this call
            (out / "results").mkdir(exist_ok=True)
            shutil.copy2(csv, out / "results" / csv.name)
    if rc == 124:
        print("the row was cut off by the budget: call again to resume it from its last checkpoint", flush=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
