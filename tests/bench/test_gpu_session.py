"""bench/gpu_session.py, the one script a lent GPU machine runs, dry-run on CPU with ``--tiny``.

It cannot measure a GPU here; it checks that every step runs within the budget, that what comes
back fits the device tool's limits (at most 8 files, 2 folders down), that the log says where it ran,
that a second call resumes instead of starting again, and that the repository's results/ and
README.md are left as they were.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _digest() -> str:
    h = hashlib.sha256()
    for p in sorted([ROOT / "README.md", ROOT / "docs" / "results.md", *(ROOT / "results").glob("*.csv")]):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _session(out: Path, run_dir: Path, *extra: str) -> str:
    proc = subprocess.run([sys.executable, "bench/gpu_session.py", "--tiny", "--out", str(out), "--run-dir",
                           str(run_dir), "--budget", "900", *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_gpu_session_dry_run_on_cpu(tmp_path):
    before = _digest()
    out, run_dir = tmp_path / "out", tmp_path / "run"
    stdout = _session(out, run_dir, "--seeds", "0,1")
    codes = re.findall(r"-> rc (\d+) after", stdout)
    # torch, imports, synth, preprocess, preflight, a reproduce a seed, 2 benchmarks
    assert len(codes) >= 9 and set(codes) == {"0"}, stdout
    assert "--set seed=0" in stdout and "--set seed=1" in stdout, stdout
    log = (out / "session.log").read_text()
    assert "available False" in log, "the CPU dry run says it had no GPU"
    assert log.count("ours-bf16") >= 2 and "reference-fp32" in log and "samples/s" in log
    assert re.search(r"table5-crossmoco-ucla .*measured [\d.]+", log), log[-2000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(len(p.relative_to(out).parts) <= 3 for p in files), files
    assert (out / "mlflow.db").is_file()
    second = _session(tmp_path / "out2", run_dir, "--skip-bench")  # the row again: found finished, not redone
    assert "bench/bench_step.py" not in second and "pipeline synth " not in second, second
    assert "finished before" in (tmp_path / "out2" / "session.log").read_text()
    assert _digest() == before, "a dry run on synthetic data must not record into the repository"


def test_the_claims_grid_command_shares_the_gpu_through_ray_train():
    sys.path.insert(0, str(ROOT / "bench"))
    from gpu_session import claims_grid_command

    cmd = claims_grid_command("py", Path("d"), Path("r"), "0,1,2", tiny=False, gpu_share=0.25)
    text = " ".join(cmd)
    assert "grid claims --profile proxy --data d --seeds 0,1,2" in text and "--record" in text
    assert "resources.use_gpu=true" in text and "resources.num_workers=1" in text, "each trial: one Ray Train worker"
    assert "resources.gpus_per_worker=0.25" in text
    from crossmoco.pipeline.config_file import load_config
    from crossmoco.pipeline.grid import concurrency

    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    assert concurrency(load_config("proxy", sets), 16.0, 1.0) == 4, "four trials on one GPU, 16 cores"
    tiny = " ".join(claims_grid_command("py", Path("d"), Path("r"), "0", tiny=True, gpu_share=0.25))
    assert "--profile smoke" in tiny and "--record" not in tiny and "use_gpu" not in tiny
