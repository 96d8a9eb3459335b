"""Helpers of the fault suite: run the CLI as a user would, read its one error line, and give a
command a full or read-only disk (a small tmpfs in a private mount namespace, gone when it exits)."""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
LEFT = "@@left:"  # marker of the listing printed by in_tmpfs after the command
_RAY_ACTOR_LINE = re.compile(r"^(\x1b\[\d+m)?\([\w.:-]+ pid=\d+")  # a log line Ray forwards from an actor

# Run inside the namespace: mount a tmpfs on $1 with options $2, run the rest, list what it left.
_TMPFS_SCRIPT = (
    'mnt=$1; opts=$2; shift 2; mount -t tmpfs -o "$opts" tmpfs "$mnt" || exit 99; "$@"; rc=$?; '
    f'echo "{LEFT} $(cd "$mnt" && find . -mindepth 1 | sort | tr "\\n" " ")"; exit $rc'
)


def cli(*args: object, prefix: list[str] | tuple[str, ...] = (), env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m crossmoco ARGS`` in a fresh process, as a user types it."""
    cmd = [*prefix, sys.executable, "-m", "crossmoco", *map(str, args)]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the command and anything it started
            proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def invoke(*args: object) -> subprocess.CompletedProcess[str]:
    """The same command in this process (no second start-up of torch and MLflow); an exception
    that escapes the command fails the test, as its traceback would fail the user."""
    from typer.testing import CliRunner

    from crossmoco.cli import app

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args])
    finally:
        root.handlers[:], root.level = handlers, level  # the CLI configured logging for its own streams
        signal.signal(signal.SIGTERM, on_sigterm)  # ... and SIGTERM for its own process
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def no_ray(monkeypatch):
    """Starting Ray (in this process) fails the test: the command had to stop before."""
    import crossmoco.pipeline.train_ray

    def started(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(crossmoco.pipeline.train_ray, "ray_init_local", started)


def error_line(proc: subprocess.CompletedProcess[str], *names: object) -> str:
    """The failed command's one ``error:`` line, last on stderr, naming each of ``names``; no
    traceback from the command (lines that Ray forwards from its actors, ``(Name pid=N) ...``,
    are those actors' logs: an interrupted grid's trials die with theirs)."""
    assert proc.returncode != 0, f"expected a failure, got exit 0:\n{proc.stdout[-2000:]}"
    own = [line for line in proc.stderr.splitlines() if not _RAY_ACTOR_LINE.match(line)]
    assert not any("Traceback" in line for line in own), proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert proc.stderr.rstrip().splitlines()[-1] == errors[0], proc.stderr[-3000:]
    for name in names:
        assert str(name) in errors[0], (name, errors[0])
    return errors[0]


@functools.lru_cache(maxsize=1)
def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*_unshare(), "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
                           capture_output=True, timeout=30)  # fmt: skip
    return probe.returncode == 0


def _unshare() -> list[str]:
    return ["unshare", "--mount", *(["--map-root-user"] if os.geteuid() != 0 else [])]


def in_tmpfs(mount_point: Path, options: str) -> list[str]:
    """A command prefix: a private tmpfs (``size=64k`` / ``ro``) on ``mount_point`` while the
    command runs; afterwards it prints ``@@left: <files>`` (what the command left there)."""
    if not _can_mount_tmpfs():
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (unshare)")
    mount_point.mkdir(parents=True, exist_ok=True)
    return [*_unshare(), "sh", "-c", _TMPFS_SCRIPT, "sh", str(mount_point), options]


def left_behind(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The files an ``in_tmpfs`` command left in its tmpfs."""
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith(LEFT)]
    return line.removeprefix(LEFT).split()


def unwritable_dir(path: Path) -> list[str]:
    """Make ``path`` an existing folder this test's commands cannot write; returns the command
    prefix that makes it so. Without root, a plain ``chmod 555``; as root (chmod does not stop
    root) a read-only tmpfs mounted on it for the command."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        return []
    return in_tmpfs(path, "ro,size=16k")


def synthetic_raw(folder: Path, n: int = 6, seed: int = 0) -> Path:
    """``n`` small valid NTU-format recordings of the synthetic dataset (classes 1-3, 2 cameras)."""
    from crossmoco.datasets.ntu_writer import write_ntu_skeleton

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = np.stack([rng.uniform(-0.25, 0.25, 25), np.linspace(-0.8, 0.8, 25), np.full(25, 3.0)], 1)
        xyz = base + 0.02 * rng.standard_normal((12, 25, 3)).cumsum(0)  # (T, V, C), upright
        data = np.zeros((3, 12, 25, 1), np.float32)
        data[..., 0] = xyz.transpose(2, 0, 1)
        write_ntu_skeleton(folder / f"S001C00{1 + i % 2}P{1 + i % 4:03d}R001A00{1 + i % 3}.skeleton", data)
    return folder


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory) -> Path:
    """The synthetic dataset at its smallest: 2 performers x 2 cameras x 15 classes, 30 of them
    in the xsub training side (one batch of 16 a step), made once per test session."""
    from crossmoco.datasets.config import PreprocessConfig
    from crossmoco.datasets.preprocess import preprocess_dataset
    from crossmoco.datasets.synthetic import generate_synthetic

    base = tmp_path_factory.mktemp("tiny")
    generate_synthetic(base / "raw", seed=0, num_performers=2, cameras=(1, 2), min_frames=20, max_frames=30)
    return preprocess_dataset("synthetic", base / "raw", base / "shards", PreprocessConfig(), workers=1)


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory) -> Path:
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates the schema (alembic migrations)
    return path


@pytest.fixture
def run_dir(tmp_path: Path, _mlflow_template: Path) -> Path:
    """An empty run folder whose MLflow store already has its schema: a copy of one made per
    session (milliseconds, where each fresh store costs seconds of migrations)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copy(_mlflow_template, folder / "mlflow.db")
    return folder
