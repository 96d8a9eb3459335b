"""Shared fixtures. Environment for Ray/MLflow is set before either is imported anywhere."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import torch

from datasets.config import PreprocessConfig
from datasets.locations import DATA_ENV, REQUIRE_ENV, data_root

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "tests" / "support"  # test-only helpers (fault injection), importable by Ray workers too
sys.path.insert(0, str(SUPPORT))

# Tiny tensors everywhere: one intra-op thread per test process. With Ray workers or other
# processes on the same 2 cores, OpenMP spin-waits otherwise slow small steps down 10-50x.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; skips (or fails, with CROSSMOCO_REQUIRE_DATA=1 as in CI) when absent."""
    root = data_root()
    if not root.is_dir():
        msg = f"real data not found at {root} (set {DATA_ENV} to the folder laid out like ../shared/data)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(msg + f"; {REQUIRE_ENV}=1 makes this a failure")
        pytest.skip(msg)
    return root


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

    from pipeline.train_ray import keep_on_loopback

    keep_on_loopback()  # tests run Ray without token auth: its ports stay on 127.0.0.1
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(SUPPORT), *filter(None, [os.environ.get("PYTHONPATH")])])
    # The dashboard hosts the State API: without it Ray Train's PlacementGroupCleaner can read a
    # missing actor entry as "controller dead" and remove a running job's placement group.
    ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False,
             logging_level="ERROR",
             object_store_memory=256 * 1024**2, runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    yield ray
    ray.shutdown()
