"""One command per run directory at a time: ``<run_dir>/run.lock``, held with ``flock``.

Two commands on one run directory collide: MLflow's store is created twice (a SQLAlchemy
traceback), or the second adopts the first's *running* parent run and trains into the same
checkpoint folder. The lock is the kernel's (``fcntl.flock`` on the file), so it ends with its
process however that process ends: a lock file left by a crashed command (its pid no longer
running) is simply taken over, with a line saying so, and two commands can never both take it.
The file names the holder (pid, host, command, start time), which is what a refused command says.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
LOCK_FILE = "run.lock"


class RunDirBusy(RuntimeError):
    """Another command holds the run directory; the message names it."""


def _holder() -> dict[str, object]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:300],
            "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def _describe(info: dict) -> str:
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')} "
            f"({info.get('command', '?')})")


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        info = json.loads(os.read(fd, 65536) or b"{}")
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _running(pid: object) -> bool:
    try:
        os.kill(int(pid), 0)  # type: ignore[call-overload]
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


@contextlib.contextmanager
def hold(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` for the block; ``RunDirBusy`` naming the holder if another command has it."""
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirBusy(f"run directory {run_dir} is in use by {_describe(_read(fd))}; wait for it to end "
                             "or give another --run-dir") from None
        before = _read(fd)
        if before and before.get("host") == socket.gethostname() and not _running(before.get("pid")):
            log.info("taking over the lock of a command that ended without releasing it: %s", _describe(before))
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(_holder()).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # released: an empty file names nobody
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
