"""One prepared script for a lent GPU machine: the `paper`-profile NW-UCLA Table V row with its random-init
control, then the step benchmark on CUDA, sized to the device tool's limits (a command runs at most 600 s, at
most 8 files come back from $OUT, the session has 15 minutes of device time in all).

The device image has PyTorch but neither MLflow nor its SQL store, so they travel as cp312 wheels (``.whl``,
ignored; the device README's recipe), installed into /tmp/site before the script runs. Ray does not: the row
runs with ``resources.num_workers=0`` (``pipeline.local``, no Ray). ``../shared`` does not travel, so the shards do;
and the ``.git`` that travels is an earlier snapshot, not the sender's ``HEAD`` (2026-12-04: it read
6c1ffe4 while the tree sent was 59c9a43, so the results said ``6c1ffe4-dirty``): the command moves it aside and
``CROSSMOCO_COMMIT`` names the clean ``HEAD`` sent (``pipeline.provenance.git_sha``):

    # here, once:
    #   echo /.device/ >> .git/info/exclude; echo /.whl/ >> .git/info/exclude
    #   cp -r <ucla shards dir> .device/ucla
    #   o="--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \\
    #      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl"
    #   python3 -m pip download $o "mlflow-skinny==3.17.*" sqlalchemy alembic jsonschema
    #   python3 -m pip download $o --no-deps typer==0.29.2 rich==15.0.0 shellingham  # ~23 MB in all
    # device run, carry [".device", ".whl"], timeout_s 590:
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && mv .git /tmp/ \\
      && PYTHONPATH=/tmp/site CROSSMOCO_COMMIT=<HEAD sha> python3 bench/gpu_session.py --data .device/ucla \\
         --out $OUT --budget 540 [--seeds 0,1,2]
    # a second call (same warm machine) resumes the row from its last checkpoint:
    ... python3 bench/gpu_session.py --data .device/ucla --out $OUT --budget 540 --skip-bench

    python bench/gpu_session.py --tiny --out /tmp/gpu-dry-run       # the same steps on CPU, tiny

``--claims SEEDS`` runs the paper's claims instead (experiments/claims.py): ``python -m crossmoco grid claims
--profile proxy --seeds SEEDS --record`` through Ray Tune, several trials sharing the one GPU (each trial's
pretraining a Ray Train run of one worker holding ``--gpu-share`` of the GPU, NCCL; ``pipeline.grid``'s fractional
resources), then ``python -m crossmoco claims``. This needs Ray on the machine, which its image lacks, and Ray's
cp312 wheel is 79 MB, over the 64 MiB a call may carry (measured 2026-12-07: ``pip download ray==2.60.0``). So Ray
travels in two calls on one warm machine: ``split -b 40M`` the wheel into ``.whl-ray/`` parts (ignored), carry
part 1 and ``cat`` it into /tmp/ray-parts on the first call, part 2 on the second, which joins them, installs the
wheel beside the others and runs the claims:

    # call 1 (carry [".whl-ray/a"]): mkdir -p /tmp/ray-parts && cp .whl-ray/a/* /tmp/ray-parts/
    # call 2 (carry [".device", ".whl", ".whl-ray/b"]): cp .whl-ray/b/* /tmp/ray-parts/ && \
    #   cat /tmp/ray-parts/ray.whl.* > .whl/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl && \
    #   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && mv .git /tmp/ && \
    #   PYTHONPATH=/tmp/site CROSSMOCO_COMMIT=<HEAD sha> python3 bench/gpu_session.py --data .device/ucla \
    #     --out $OUT --budget 540 --claims 0,1,2

Not run yet: no GPU was lent to the session that wrote it (its CPU dry run: ``--tiny --claims 0``).

Steps, each given what is left of ``--budget``:
1. the device and the software (``nvidia-smi``, torch, CUDA), an import check of the row's modules (MLflow,
   its SQL store), and the row's chain for 2 epochs with every stage on (kNN monitor, checkpoint,
   cross-training, probe): a missing package or a fault on CUDA stops the call here, in seconds, instead of
   after the machine's budget;
2. ``reproduce table5-random-ucla table5-crossmoco-ucla --profile paper --record``: the control (the same
   encoders never trained, measured the same way) and the row (300 epochs at batch 128, K = 16384, m = 0.999,
   cross-training from epoch 150) in one process on the GPU; the command prints the row beside its control.
   The run directory is ``runs/gpu-session`` in the repository (ignored, kept between calls on a warm
   machine), so a row cut off by the budget resumes from its last checkpoint (every
   ``pretrain.checkpoint_every`` epochs) on the next call instead of starting again;
3. with what is left, ``bench/bench_step.py --device cuda`` for NW-UCLA and NTU shapes (samples/s, achieved
   GFLOP/s, fraction of the device's measured bf16 matmul peak, ratio to the reference step). The row comes
   first: it is the figure the issue asks for, and the benchmark fits in what the row leaves.

What comes back in OUT (4 files for one seed, 8 for three: the tool's limit): ``session.log`` (every step's
output, in order, with its exit code and wall time), ``mlflow.db`` (the run directory's store: the chains,
their curves), and ``results/<row>-paper[-seed<S>].csv`` for the row and its control once each seed
finished. ``--tiny`` swaps in the synthetic dataset, the smoke profile's sizes and the CPU, so the script is
tested where no GPU is lent (tests/bench/test_gpu_session.py, marked slow). Nothing here fakes a GPU
figure: on CPU the log says cpu.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root, as ``python -m`` sees it
from crossmoco.experiments.results import result_path  # noqa: E402

ROW = "table5-crossmoco-ucla"
CONTROL = "table5-random-ucla"  # its random-init control (experiments.tables.control_of)
PREFLIGHT = ("pretrain.epochs=2", "contrastive.cross_start_epoch=1", "pretrain.knn_every=1",
             "pretrain.checkpoint_every=1", "eval.linear_epochs=2")
IMPORTS = "import mlflow, sqlalchemy, alembic, pipeline.tracking, pipeline.local, experiments.reproduce"
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
    p.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0],
                   help="comma-separated seeds, one row-and-control pair each, in order (default 0)")
    p.add_argument("--skip-bench", action="store_true", help="only the row (e.g. a second call resuming it)")
    p.add_argument("--tiny", action="store_true", help="CPU, synthetic data, smoke sizes: test the script")
    p.add_argument("--claims", help="comma-separated seeds: run the claims grid (Ray Tune, trials sharing the GPU) "
                   "instead of the row")
    p.add_argument("--gpu-share", type=float, default=0.25, help="the GPU fraction a claims trial holds")
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
    if s.run([py, "-c", IMPORTS], 120) != 0:
        print("the row's modules do not import (see session.log): carry the wheels (this file's docstring)", flush=True)
        return 3
    if args.tiny:
        raw, shards = run_dir / "synthetic-raw", run_dir / "synthetic-shards"
        if not (shards.is_dir() and any(shards.glob("*/manifest.json"))):
            s.run([py, "-m", "crossmoco", "synth", str(raw)], 300)
            s.run([py, "-m", "crossmoco", "preprocess", "synthetic", str(raw), str(shards)], 300)
        data = shards
        row = [CONTROL, ROW, "--profile", "smoke", "--set", "data.dataset=synthetic", "--set", "data.split=xsub"]
    else:
        if args.data is None and args.ucla is None:
            p.error("give --data SHARDS (or --ucla RAW_DIR) on the GPU machine")
        data = args.data.resolve() if args.data else run_dir / "ucla-shards"
        if args.data is None and not any(data.glob("*/manifest.json")):
            s.run([py, "-m", "crossmoco", "preprocess", "ucla", str(args.ucla), str(data)], 180)
        row = [CONTROL, ROW, "--profile", "paper"]
    if args.claims:
        return claims_session(s, py, data, run_dir, out, args)
    where = ["--set", "resources.num_workers=0", "--set", f"resources.use_gpu={str(not args.tiny).lower()}"]
    # every stage of the chain for 2 epochs (kNN, checkpoint, cross-training, probe) before the long row, so a
    # fault that would show only at cross-training's start or in the probe costs seconds, not the budget
    preflight = [py, "-m", "crossmoco", "reproduce", *row[1:], "--data", str(data),
                 "--run-dir", str(run_dir / "preflight"), *where, *(a for kv in PREFLIGHT for a in ("--set", kv))]
    if s.run(preflight, 180) != 0:
        print("the 2-epoch preflight of the row failed (see session.log); the row was not started", flush=True)
        return 4
    rc = 0
    for seed in args.seeds:  # one chain pair a seed; each seed's files come back as soon as it finished
        cmd = [py, "-m", "crossmoco", "reproduce", *row, "--data", str(data), "--run-dir", str(run_dir), "--record",
               *where, "--set", f"seed={seed}"]  # fmt: skip
        rc = s.run(cmd, 10**6)
        if (run_dir / "mlflow.db").is_file():
            shutil.copy2(run_dir / "mlflow.db", out / "mlflow.db")
        if rc != 0:
            break
        for r in (CONTROL, ROW):  # recorded in this call (a dry run on synthetic data records nothing)
            if (csv := result_path(ROOT, r, "paper", seed)).is_file() and not args.tiny:
                (out / "results").mkdir(exist_ok=True)
                shutil.copy2(csv, out / "results" / csv.name)
    if not args.skip_bench:
        bench = [py, "bench/bench_step.py", "--device", device, "--variants", "ours-bf16,ours-fp32,reference-fp32"]
        sizes = (["--batch", "8", "--steps", "1", "--frames", "16"] if args.tiny
                 else ["--batch", "128", "--steps", "10", "--warmup", "3"])  # fmt: skip
        for dataset in ("ucla", "ntu"):
            s.run([*bench, "--dataset", dataset, *sizes], 120)
    if rc == 124:
        print("the row was cut off by the budget: call again to resume it from its last checkpoint", flush=True)
    return rc


def claims_grid_command(py: str, data: Path, run_dir: Path, seeds: str, *, tiny: bool, gpu_share: float) -> list[str]:
    """The claims grid on one GPU: Ray Tune trials whose pretraining is a one-worker Ray Train run holding
    ``gpu_share`` of the GPU (``pipeline.grid.trial_resources``), so 1 / gpu_share trials share it. ``tiny``: the
    same shape on CPU (smoke sizes, synthetic data, two rows, nothing recorded)."""
    if tiny:
        target, profile, extra = "table5-crossmoco-ucla,table5-3s-skeletonclr-ucla", "smoke", [
            "--set", "resources.num_workers=1", "--set", "resources.cpus_per_worker=0.99"]
    else:
        target, profile, extra = "claims", "proxy", [
            "--record", "--set", "resources.use_gpu=true", "--set", "resources.num_workers=1",
            "--set", f"resources.gpus_per_worker={gpu_share}", "--set", "resources.cpus_per_worker=2"]
    data_args = [] if tiny else ["--data", str(data)]
    return [py, "-m", "crossmoco", "grid", target, "--profile", profile, *data_args, "--seeds", seeds,
            "--run-dir", str(run_dir / "claims"), "--name", "gpu-claims", "--resume", *extra]


def claims_session(s: Session, py: str, data: Path, run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    """``--claims``: the grid (resumed by a second call), then the verdict table; results and the log come back."""
    if s.run([py, "-c", "import ray; print('ray', ray.__version__)"], 60) != 0:
        print("Ray does not import: carry its wheel in two calls (this file's docstring)", flush=True)
        return 3
    rc = s.run(claims_grid_command(py, data, run_dir, args.claims, tiny=args.tiny, gpu_share=args.gpu_share), 10**6)
    if (run_dir / "claims" / "mlflow.db").is_file():
        shutil.copy2(run_dir / "claims" / "mlflow.db", out / "mlflow.db")
    if not args.tiny:
        s.run([py, "-m", "crossmoco", "claims"], 120)
        # at most 8 files come back: the results folder (files and predictions) travels as one archive
        subprocess.run(["tar", "czf", str(out / "results.tgz"), "-C", str(ROOT), "results"], check=False)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
