"""A two-node Ray cluster on this host, storage on an S3 server, and the loss of the rank-0 node.

The scenario runs in its own process (``multinode_pretrain.py``: its own Ray cluster, whatever
else this pytest session started); every process it starts carries a marker in its environment,
which Ray hands down to its raylets, GCS and workers, so the test can prove they are all gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crossmoco.pipeline import storage as shared

ROOT = Path(__file__).resolve().parents[2]
MARKER = "CROSSMOCO_TEST_CLUSTER"


def _marked(token: str) -> list[int]:
    """Processes whose environment carries ``MARKER=token``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"{MARKER}={token}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


@pytest.mark.slow
def test_ddp_across_two_nodes_survives_losing_the_rank0_node(synthetic_shards, s3_bucket, tmp_path):
    token = uuid.uuid4().hex
    env = {**os.environ, MARKER: token, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("multinode_pretrain.py")),
                             str(synthetic_shards), s3_bucket, str(tmp_path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.time() + 30
    while _marked(token) and time.time() < deadline:
        time.sleep(0.5)
    left = _marked(token)
    for pid in left:  # ours (they carry the marker): do not leave them running
        os.kill(pid, signal.SIGKILL)
    lines = [ln for ln in output.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, output[-4000:]
    r = json.loads(lines[-1].removeprefix("RESULT "))
    assert "error" not in r, r["error"]
    assert r["first_nodes"]["0"] != r["first_nodes"]["1"], "SPREAD: one rank per node"
    assert r["logged_before_removal"] and r["logged_before_removal"][-1] < 5, "removed mid-run"
    assert len(r["rank0_nodes"]) >= 2 and r["removed"] not in r["rank0_nodes"][1:], "rank 0 restarted elsewhere"
    assert r["epochs_run"] == 5 and r["loss_steps"] == [1, 2, 3, 4, 5], "resumed to the same epoch count"
    assert r["location"].startswith("s3://") and shared.is_file(shared.join(r["location"], "state.pt"))
    assert any(n.startswith("checkpoint_") for n in r["storage_listing"])
    assert left == [], f"processes of the test cluster still running: {left}"
