"""One command per run directory at a time.

Command: ``chain`` (any verb that writes a run directory: pretrain, evaluate, grid, reproduce)
on a run directory another command holds. Holds: exit 1, one ``error:`` line naming the run
directory and the holder (pid, host, command), nothing started (no Ray, no MLflow run). A lock
left by a command that crashed (its pid gone) is taken over, and the file then names the new holder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

from crossmoco.pipeline.run_lock import LOCK_FILE, hold

from .conftest import error_line, invoke


def test_a_second_command_on_a_held_run_dir_is_refused(tiny_shards: Path, tmp_path: Path, no_ray) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    with hold(runs):  # the first command, still running
        proc = invoke("chain", tiny_shards, "--profile", "smoke", "--run-dir", runs,
                      "--set", "data.dataset=synthetic", "--set", "resources.num_workers=0")  # fmt: skip
    line = error_line(proc, runs, f"pid {os.getpid()}", socket.gethostname())
    assert proc.returncode == 1 and "in use" in line
    assert not (runs / "mlflow.db").exists()


def test_a_stale_lock_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                                  "command": "chain (crashed)", "since": "2026-01-01T00:00:00"}))
    with hold(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert (tmp_path / LOCK_FILE).read_text() == "", "released: the file names nobody"
    with hold(tmp_path):  # and taken again
        pass
