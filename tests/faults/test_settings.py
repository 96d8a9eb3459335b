"""Settings that cannot give a meaningful result are refused when the config is read.

Command: ``chain DATA --set KEY=VALUE`` with ``eval.linear_epochs=0`` (an untrained classifier's
chance figure reported as a result), ``eval.knn_k=0``, ``pretrain.batch_size=1`` (or a batch that
gives a rank fewer than 2 samples: BatchNorm in training mode fails inside pretraining) and
``seed=-1`` (NumPy refuses it inside pretraining, after MLflow runs were created).
Holds: exit 2, one ``error:`` line naming the key, nothing started: no Ray, no run folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crossmoco.pipeline.config_file import load_config
from crossmoco.training.config import ConfigError

from .conftest import error_line, invoke

REFUSED = {
    "eval.linear_epochs=0": "eval.linear_epochs",
    "eval.knn_k=0": "eval.knn_k",
    "pretrain.batch_size=1": "pretrain.batch_size",
    "seed=-1": "seed",
}


@pytest.mark.parametrize("override", sorted(REFUSED))
def test_a_meaningless_setting_is_refused_before_anything_runs(override: str, tmp_path: Path, no_ray) -> None:
    runs = tmp_path / "runs"
    proc = invoke("chain", tmp_path / "shards", "--profile", "smoke", "--set", override, "--run-dir", runs)
    assert proc.returncode == 2
    error_line(proc, REFUSED[override])
    assert not runs.exists()


def test_a_batch_too_small_for_its_ranks_names_both_keys() -> None:
    with pytest.raises(ConfigError, match="pretrain.batch_size=3.*resources.num_workers=2"):
        load_config("smoke", ["pretrain.batch_size=3"])
    assert load_config("smoke", ["pretrain.batch_size=4"]).pretrain.batch_size == 4
