"""A checkpoint that cannot be evaluated is one line naming its file, before any MLflow run.

Command: ``evaluate CHECKPOINT DATA``. Holds: a ``state.pt`` whose pickle the safe loader rejects
(a global such as ``posix.system``) is reported as refused, not as "truncated or corrupt"; a
``config.json`` that describes another model than the weights (38 lines of ``size mismatch``
before) is one line naming it. No MLflow store is created, Ray is never started.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import load_dataset
from crossmoco.training.checkpoints import save_checkpoint
from crossmoco.training.config import to_flat_dict
from crossmoco.training.modeling import build_pretrain_model

from .conftest import error_line, invoke

SMOKE = ["data.dataset=synthetic", "data.split=xsub", "resources.num_workers=0"]


class _Payload:
    def __reduce__(self):
        return (os.system, ("true",))  # what a hostile checkpoint would run; refused, never called


def _checkpoint(tiny_shards: Path, folder: Path) -> Path:
    cfg = load_config("smoke", SMOKE)
    model = build_pretrain_model(cfg, load_dataset(tiny_shards, cfg).info)
    return save_checkpoint(folder, model, None, 0, cfg)


def test_a_rejected_pickle_is_reported_as_refused(tiny_shards: Path, tmp_path: Path, no_ray) -> None:
    ckpt = _checkpoint(tiny_shards, tmp_path / "ckpt")
    torch.save({"model": {}, "epoch": 0, "extra": _Payload()}, ckpt / "state.pt")
    proc = invoke("evaluate", ckpt, tiny_shards, "--run-dir", tmp_path / "runs")
    line = error_line(proc, ckpt / "state.pt")
    assert "refused" in line and "corrupt" not in line, line
    assert not (tmp_path / "runs" / "mlflow.db").exists()


def test_a_config_that_disagrees_with_the_weights_is_one_line(tiny_shards: Path, tmp_path: Path, no_ray) -> None:
    ckpt = _checkpoint(tiny_shards, tmp_path / "ckpt")
    other = load_config("smoke", [*SMOKE, "encoder.embed_dim=48"])
    (ckpt / "config.json").write_text(json.dumps(to_flat_dict(other)))
    proc = invoke("evaluate", ckpt, tiny_shards, "--run-dir", tmp_path / "runs")
    assert "another model" in error_line(proc, ckpt / "config.json")
    assert not (tmp_path / "runs" / "mlflow.db").exists()
