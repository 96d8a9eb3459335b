"""The demo (`make demo`): synthetic data -> shards -> Table III grid on Ray -> MLflow -> summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_end_to_end_and_a_second_run_reuses_it(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "crossmoco", "demo", "--run-dir", str(tmp_path)]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert first.returncode == 0, first.stderr[-3000:]
    for row in ("table3-banks1-le", "table3-banks2-fe", "table3-banks3-le"):
        assert row in first.stdout
    before_table = first.stdout.split("### ")[0].splitlines() + first.stderr.splitlines()
    assert len(before_table) < 40, "the console is ours: one line per stage or trial\n" + first.stderr
    assert "trial 3/3" in first.stderr and "Reporting training result" not in first.stderr + first.stdout
    # synthetic data: the measured figure, then the paper's as context, and no difference column
    assert "| measured | paper (context) |" in first.stdout and "| diff |" not in first.stdout
    measured = dict(re.findall(r"\| (table3-banks\d-[lf]e) \|[^|]*\| ([\d.]+) \|", first.stdout))
    for banks in (1, 2, 3):  # FE not below LE, or the table says why
        fe, le = float(measured[f"table3-banks{banks}-fe"]), float(measured[f"table3-banks{banks}-le"])
        assert fe >= le or f"table3-banks{banks} ({fe:.1f} < {le:.1f})" in first.stdout, first.stdout
    assert "mlflow ui --backend-store-uri" in first.stdout and "FAILED" not in first.stdout
    assert (tmp_path / "synthetic" / "raw" / "label_map.txt").is_file()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("table3").experiment_id
    parents = client.search_runs([exp], filter_string="tags.`crossmoco.chain_key` != ''")
    assert len(parents) == 3 and all(p.info.status == "FINISHED" for p in parents)
    for p in parents:  # the runs table's columns: the grid's axis, LE/FE and the paper's figure (context)
        assert p.info.run_name in ("banks1", "banks2", "banks3") and p.data.params["num_banks"] == p.info.run_name[-1]
        assert {"linear_top1", "linear_paper", "finetune_paper"} <= set(p.data.metrics)
        assert "linear_diff" not in p.data.metrics
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(client.search_runs([exp], filter_string="tags.`crossmoco.chain_key` != ''")) == 3
