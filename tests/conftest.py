"""Shared fixtures. Environment for Ray/MLflow is set before either is imported anywhere."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# The S3 tests talk to moto's server on 127.0.0.1 only: fake credentials, never a real account's
# (set before Ray starts, so its workers have them too), and no EC2 metadata probe.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # moto's documented fake
os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.pop("AWS_PROFILE", None)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

import torch

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.locations import DATA_ENV, REQUIRE_ENV, data_root

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
def synthetic_raw_dir(tmp_path_factory) -> Path:
    """The synthetic dataset's raw files (NTU format), generated once per test session."""
    from crossmoco.datasets.synthetic import generate_synthetic

    raw = tmp_path_factory.mktemp("synthetic") / "raw"
    generate_synthetic(raw, seed=0)
    return raw


@pytest.fixture(scope="session")
def synthetic_shards(synthetic_raw_dir) -> Path:
    """A small synthetic dataset, preprocessed once per test session (``synthetic_raw_dir``'s sibling ``shards``)."""
    from crossmoco.datasets.preprocess import preprocess_dataset

    return preprocess_dataset("synthetic", synthetic_raw_dir, synthetic_raw_dir.parent / "shards", PreprocessConfig(),
                              workers=2)


def _start_ray():
    """The local Ray every Ray test shares (workers import this project from ROOT)."""
    import ray

    from crossmoco.pipeline.train_ray import keep_on_loopback

    keep_on_loopback()  # tests run Ray without token auth: its ports stay on 127.0.0.1
    if str(SUPPORT) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(SUPPORT),
                                                    *filter(None, [os.environ.get("PYTHONPATH")])])
    # The dashboard hosts the State API: without it Ray Train's PlacementGroupCleaner can read a
    # missing actor entry as "controller dead" and remove a running job's placement group.
    ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False,
             logging_level="ERROR",
             object_store_memory=256 * 1024**2, runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    return ray


@pytest.fixture(scope="session")
def _ray_for_session():
    ray = _start_ray()
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_session(_ray_for_session):
    """One local Ray instance shared by every Ray test, started again if a test stopped it (the
    CLI's ``fail`` shuts down the Ray its process joined, and CLI tests run in this process)."""
    ray = _ray_for_session
    if not ray.is_initialized():
        _start_ray()
    return ray


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server_process(argv: list[str], health_url: str, log: Path, env: dict[str, str] | None = None,
                   ready: Callable[[bytes], bool] = lambda body: True, timeout: float = 120) -> Iterator[None]:
    """A server started in its own process group, waited for until ``health_url`` answers, and
    stopped (the whole group: SIGTERM, then SIGKILL) when the block ends, whatever happened."""
    out = log.open("w")
    proc = subprocess.Popen(argv, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(health_url, timeout=5) as r:
                    if r.status == 200 and ready(r.read()):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"{argv[2:4]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


@contextlib.contextmanager
def mlflow_server(store_dir: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 and a free port over ``store_dir/mlflow.db`` (SQLite), artifacts
    proxied through the server into ``store_dir/mlartifacts``; yields its base URL."""
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{store_dir / 'mlflow.db'}",
            "--artifacts-destination", str(store_dir / "mlartifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with server_process(argv, base + "/health", store_dir / "mlflow-server.log", env, lambda b: b == b"OK"):
        yield base


@dataclass(frozen=True)
class S3Server:
    """moto's S3 API on 127.0.0.1; ``uri(bucket)`` is what ``storage_path`` takes (pyarrow's options
    in the query: endpoint, plain http, region)."""

    endpoint: str  # host:port

    def uri(self, bucket: str, prefix: str = "") -> str:
        path = f"{bucket}/{prefix}".rstrip("/")
        return f"s3://{path}?endpoint_override={self.endpoint}&scheme=http&region=us-east-1"

    def bucket(self, name: str) -> str:
        """Create a bucket; returns its URI."""
        import pyarrow.fs

        fs = pyarrow.fs.S3FileSystem(endpoint_override=self.endpoint, scheme="http", region="us-east-1",
                                     allow_bucket_creation=True)
        fs.create_dir(name)
        return self.uri(name)


_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """moto's standalone server (``moto[server]``, in the dev extra), one per session, stopped at its end."""
    port = free_port()
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with server_process(argv, f"http://127.0.0.1:{port}/moto-api/", log):
        yield S3Server(f"127.0.0.1:{port}")


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh, empty bucket on the session's S3 server: its URI."""
    return s3_server.bucket(f"crossmoco-{next(_buckets)}")


@pytest.fixture(scope="session")
def start_mlflow_server() -> Callable[[Path], contextlib.AbstractContextManager[str]]:
    """``with start_mlflow_server(store_dir) as base_url:`` a server for the block (see ``mlflow_server``)."""
    return mlflow_server


# Ending the test process without Python's finalisation. CI (2026-12-07) printed "721 passed" and then
# `make` reported a segmentation fault of the pytest process: every result was in, and the crash came while the
# interpreter tore down what the session left behind (Ray's core worker and gRPC threads, gloo, MLflow's async
# logging threads, all in one process). The exit status is pytest's own; PYTHONFAULTHANDLER=1 (set in .ci/run)
# still prints a stack for any crash before this point. CROSSMOCO_TEST_FULL_EXIT=1 keeps the normal exit, to look
# for the crash itself.
_session_status: list[int] = []


def pytest_sessionfinish(session, exitstatus) -> None:
    _session_status[:] = [int(exitstatus)]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    if not _session_status or os.environ.get("CROSSMOCO_TEST_FULL_EXIT") == "1":
        return
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(_session_status[0])
