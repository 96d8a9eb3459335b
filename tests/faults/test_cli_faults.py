"""Commands given a wrong row, a broken checkpoint, a missing or unwritable run folder.

Each: the command, then what holds after: exit non-zero, one ``error:`` line naming the thing,
no traceback (``-v`` shows it), and nothing started or created first: no Ray (in a separate
process ``RAY_ADDRESS`` points at a closed port, so a command that reached Ray would fail
differently; in this process starting Ray fails the test), no MLflow store.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import torch

from crossmoco.pipeline.config_file import load_config
from crossmoco.training.config import to_flat_dict

from .conftest import cli, error_line, invoke, unwritable_dir

NO_RAY = {"RAY_ADDRESS": "127.0.0.1:9"}
SYNTH = ["--set", "data.dataset=synthetic", "--set", "data.split=xsub"]


def test_chain_into_an_unwritable_run_dir_fails_before_ray(synthetic_shards: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    proc = cli("chain", synthetic_shards, "--profile", "smoke", "--run-dir", locked / "runs", *SYNTH,
               prefix=unwritable_dir(locked), env=NO_RAY, timeout=120)
    error_line(proc, locked / "runs")


def test_reproduce_an_unknown_row_fails_before_ray(tmp_path: Path, no_ray) -> None:
    error_line(invoke("reproduce", "no-such-row", "--run-dir", tmp_path / "runs"), "no-such-row")
    assert not (tmp_path / "runs").exists()


def _checkpoint(folder: Path, state: bytes | None) -> Path:
    """A checkpoint folder with a valid config.json and ``state`` as its state.pt (None: none)."""
    folder.mkdir(parents=True)
    cfg = load_config("smoke", ["data.dataset=synthetic", "data.split=xsub", "resources.num_workers=0"])
    (folder / "config.json").write_text(json.dumps(to_flat_dict(cfg)))
    if state is not None:
        (folder / "state.pt").write_bytes(state)
    return folder


def _unsafe_state(tmp_path: Path) -> bytes:
    """A checkpoint that pickles a Python object other than tensors and plain values."""
    torch.save({"model": {}, "epoch": 0, "saved": datetime.datetime(2024, 1, 1)}, tmp_path / "unsafe.pt")
    return (tmp_path / "unsafe.pt").read_bytes()


def test_evaluate_a_broken_checkpoint_fails_before_any_run(synthetic_shards: Path, tmp_path: Path, no_ray) -> None:
    cases = {"missing": None, "garbage": b"not a checkpoint" * 8, "unsafe": _unsafe_state(tmp_path)}
    for name, state in cases.items():
        ckpt = _checkpoint(tmp_path / name, state)
        runs = tmp_path / f"runs-{name}"
        proc = invoke("evaluate", ckpt, synthetic_shards, "--run-dir", runs)
        line = error_line(proc, ckpt / "state.pt")
        assert "weights_only" not in proc.stderr, "never advise loading a checkpoint unsafely"
        assert not (runs / "mlflow.db").exists(), f"{name}: no MLflow run was created"
        assert name != "unsafe" or "refused" in line


def test_report_on_a_missing_run_dir_creates_nothing(tmp_path: Path) -> None:
    error_line(invoke("report", "III", "--run-dir", tmp_path / "nowhere"), tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_verbose_shows_the_traceback_too(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "S001C001P001R001A001.skeleton").write_text("1\n1\nbad\n")
    quiet = cli("preprocess", "synthetic", raw, tmp_path / "out")
    loud = cli("-v", "preprocess", "synthetic", raw, tmp_path / "out")
    assert error_line(quiet, raw) == loud.stderr.rstrip().splitlines()[-1]
    assert "Traceback" in loud.stderr and loud.returncode == quiet.returncode
