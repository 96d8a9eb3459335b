"""What reaches the terminal, and where everything else goes: the run directory's ``logs/``.

* The console shows this project's own progress (``pipeline``, ``experiments``, ``datasets``,
  ``models`` loggers at INFO: one line per stage, epoch or trial) and every other library's
  warnings and errors. Ray's, Ray Tune's, MLflow's and alembic's INFO chatter goes only to the
  log file. ``-v`` (``CROSSMOCO_VERBOSE=1``) shows everything at DEBUG, as Ray and MLflow print it.
* ``log_to_file(run_dir)`` adds ``<run_dir>/logs/crossmoco.log`` (DEBUG, every logger) to this
  process; Ray workers and Tune trials call ``log_to_file(run_dir, WORKERS_LOG)`` so their Ray
  Train and MLflow lines land in ``<run_dir>/logs/workers.log``. Output a worker prints itself
  (not through ``logging``) stays in Ray's session logs, linked as ``<run_dir>/logs/ray-session``.
* Progress bars (tqdm) only on a terminal: piped output (CI, ``| tee``) gets the log lines alone.

Configured once, by the CLI (``configure``); library code only logs.
"""

from __future__ import annotations

import logging
import os
import sys
import typing
from pathlib import Path

from crossmoco.datasets.atomic import atomic_path

VERBOSE_ENV = "CROSSMOCO_VERBOSE"
LOGS_DIR = "logs"
DRIVER_LOG = "crossmoco.log"
WORKERS_LOG = "workers.log"
OWN_PACKAGES = ("crossmoco", "__main__")  # loggers are named for modules: crossmoco.pipeline.chain, ...
_FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
# Set before ray or mlflow is imported (both read them at import or at ray.init); workers inherit them.
QUIET_ENV = {
    "MLFLOW_CONFIGURE_LOGGING": "false",  # MLflow's loggers propagate to ours instead of printing
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",  # a spurious core_worker error line (../shared/notes §1)
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # Tune's new output prints a config box and paths to stdout even at verbose=0
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def is_verbose() -> bool:
    """True when ``-v`` asked for everything (also in Ray workers: they inherit the environment)."""
    return os.environ.get(VERBOSE_ENV) == "1"


# Warnings that announce a default rather than a problem, at every run: the log file keeps them.
FILE_ONLY = (
    # Ray 2.60 turns token authentication on for a new local cluster (the secure default) and says so
    ("ray._private.authentication", "Token authentication is enabled for this Ray cluster"),
    # Tune times its own event loop against 0.5 s; on a busy 2-core machine every step exceeds it
    ("ray.tune.utils.util", "The `"),
)


class _ConsoleFilter(logging.Filter):
    """Our packages from INFO, everyone else from WARNING (except ``FILE_ONLY``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".")[0] in OWN_PACKAGES
        if any(record.name.startswith(name) and str(record.msg).startswith(text) for name, text in FILE_ONLY):
            return False
        return record.levelno >= (logging.INFO if own else logging.WARNING)


class _ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS message`` for progress; level and logger name only for warnings and errors."""

    def format(self, record: logging.LogRecord) -> str:
        self._style._fmt = ("%(asctime)s %(message)s" if record.levelno < logging.WARNING
                            else "%(asctime)s %(levelname)s %(name)s: %(message)s")
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> typing.TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: typing.TextIO) -> None:
        pass


def configure(verbose: bool) -> None:
    """Configure logging for this process: the console handler, quiet Ray/MLflow, bars on terminals only."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm >= 4.66 reads TQDM_* defaults from the environment
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for logger in (root, logging.getLogger("ray.train")):  # a second configure (tests invoke the CLI
        for h in list(logger.handlers):  # many times) starts afresh
            if getattr(h, "_crossmoco", ""):
                logger.removeHandler(h)
                h.close()
    handler = _StderrHandler()
    handler._crossmoco = "console"  # type: ignore[attr-defined]
    if verbose:
        handler.setFormatter(logging.Formatter(_FILE_FORMAT, datefmt="%H:%M:%S"))
    else:
        handler.setFormatter(_ConsoleFormatter(datefmt="%H:%M:%S"))
        handler.addFilter(_ConsoleFilter())
    root.addHandler(handler)
    logging.captureWarnings(True)  # warnings.warn -> logger "py.warnings": console (WARNING) and file
    for noisy in ("urllib3", "matplotlib", "PIL", "filelock", "fsspec", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.INFO)  # their DEBUG floods the file, not the console


def route_ray_logs() -> None:
    """Unless ``-v``: the ``ray`` logger, which Ray gives its own stderr handler at import, goes
    through ours instead (console: warnings and errors; file: everything). Call after ``import ray``."""
    if is_verbose():
        return
    ray_logger = logging.getLogger("ray")
    for h in list(ray_logger.handlers):
        if not getattr(h, "_crossmoco", ""):
            ray_logger.removeHandler(h)
    ray_logger.propagate = True
    ray_logger.setLevel(logging.INFO)  # ray.init(logging_level=...) may have raised it; the file wants INFO


def log_dir() -> Path | None:
    """The ``logs/`` folder this process writes to, once ``log_to_file`` attached one."""
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler) and getattr(h, "_crossmoco", "") == "file":
            return Path(h.baseFilename).parent
    return None


def log_to_file(run_dir: Path) -> Path:
    """Append every log record of this process (DEBUG and up) to ``<run_dir>/logs/crossmoco.log``."""
    return _attach((Path(run_dir) / LOGS_DIR / DRIVER_LOG).resolve())


def _attach(path: Path) -> Path:
    """A file handler for ``path`` on the root logger (idempotent), and on ``ray.train``, which
    Ray Train configures not to propagate."""
    root = logging.getLogger()
    for h in root.handlers:
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler._crossmoco = "file"  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    handler.setLevel(logging.DEBUG)
    root.addHandler(handler)
    if root.level > logging.DEBUG or root.level == logging.NOTSET:
        root.setLevel(logging.DEBUG)
    train = logging.getLogger("ray.train")
    if not train.propagate:
        train.addHandler(handler)
    return path


def quiet_worker(logs: str | Path | None) -> None:
    """In a Ray worker or Tune trial: every log line to ``<logs>/workers.log`` (``logs``: the
    driver's ``log_dir()``), and Ray Train's own console handler down to warnings unless ``-v``."""
    if logs:
        _attach(Path(logs) / WORKERS_LOG)
    if is_verbose():
        return
    train = logging.getLogger("ray.train")
    for h in train.handlers:
        if not isinstance(h, logging.FileHandler):
            h.setLevel(logging.WARNING)


def link_ray_session(session_logs: Path) -> None:
    """``<logs>/ray-session`` -> Ray's session log folder (what workers printed themselves), when
    this process has a ``log_dir()``."""
    logs = log_dir()
    if logs is None:
        return
    link = logs / "ray-session"
    try:
        with atomic_path(link) as tmp:
            tmp.symlink_to(session_logs)
    except OSError:
        logging.getLogger(__name__).debug("could not link %s to %s", link, session_logs)
