"""Fixtures for pipeline tests: synthetic shards (made once per session), MLflow, one local Ray."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from datasets.config import PreprocessConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synthetic_shards(tmp_path_factory) -> Path:
    """A small synthetic dataset, generated and preprocessed once per test session."""
    from datasets.preprocess import preprocess_dataset
    from datasets.synthetic import generate_synthetic

    base = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(base / "raw", seed=0)
    return preprocess_dataset("synthetic", base / "raw", base / "shards", PreprocessConfig(), workers=2)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance shared by every Ray test (workers import this project from ROOT)."""
    import ray

    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             object_store_memory=256 * 1024**2, runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    yield ray
    ray.shutdown()


@pytest.fixture
def smoke_overrides() -> list[str]:
    """Smallest chain that still exercises every stage."""
    return ["pretrain.epochs=2", "eval.linear_epochs=3", "eval.finetune_epochs=1", "eval.semi_epochs=1",
            "eval.protocols=linear,knn", "pretrain.batch_size=16"]


assert sys.version_info >= (3, 10)
