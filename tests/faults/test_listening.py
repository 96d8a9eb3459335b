"""A local run's Ray listens on loopback only.

Command: any Ray command on one machine (``chain``, ``pretrain``, ``grid``, ``reproduce``, ``demo``),
which starts a local Ray through ``pipeline.train_ray.ray_init_local``.
Holds while it runs: every TCP port that Ray's processes listen on (GCS, raylet, object manager,
workers and actors, dashboard and its agent, metrics, runtime-env agent) is bound to 127.0.0.1
(or ``::ffff:127.0.0.1``), none to all interfaces or a routable address. The sockets are read
from ``/proc`` (this process's tree), as ``ss -ltnp`` shows them. The test session's Ray is made
the same way (``keep_on_loopback``), so it is measured here; ``ray_init_local`` is shown to apply
it whenever it starts a Ray of its own and never when it joins a cluster.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

import crossmoco.pipeline.train_ray as train_ray

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _tree(root: int) -> set[int]:
    """``root`` and all its descendants."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # a process that just ended
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
    pids, grew = {root}, True
    while grew:
        new = {p for p, pp in parent.items() if pp in pids} - pids
        pids |= new
        grew = bool(new)
    return pids


def _socket_owners(pids: set[int]) -> dict[str, int]:
    """Socket inode -> pid, for the open sockets of ``pids``."""
    out = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    out[link[8:-1]] = pid
        except OSError:  # a process that just ended
            pass
    return out


def _address(hex_addr: str, v6: bool) -> tuple[str, int]:
    ip, port = hex_addr.split(":")
    raw = bytes.fromhex(ip)
    if v6:  # four host-order 32-bit words
        return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))), int(port, 16)
    return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)


def listening(root: int) -> list[tuple[str, int, str]]:
    """(address, port, process name) of every TCP socket listening in ``root``'s process tree."""
    owners = _socket_owners(_tree(root))
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in owners:  # LISTEN, a socket of the tree
                name = Path(f"/proc/{owners[f[9]]}/comm").read_text().strip()  # gcs_server, raylet, ray::IDLE, ...
                found.append((*_address(f[1], v6), name))
    return found


@pytest.mark.ray
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_local_ray_listens_on_loopback_only(ray_session) -> None:
    @ray_session.remote
    class Echo:
        def ping(self) -> int:
            return os.getpid()

    echo = Echo.remote()  # a worker and an actor with their own ports
    ray_session.get(echo.ping.remote())
    found = listening(os.getpid())
    ray_session.kill(echo)
    names = {name for _, _, name in found}
    assert {"gcs_server", "raylet"} <= names, found
    exposed = [f"{h}:{p}  {name}" for h, p, name in found if h not in LOOPBACK]
    assert not exposed, "\n".join(exposed)


def test_ray_init_local_keeps_its_own_ray_on_loopback(monkeypatch) -> None:
    calls: list[str] = []
    fake = SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.append("init"))
    monkeypatch.setattr(train_ray, "ray", fake)
    monkeypatch.setattr(train_ray, "keep_on_loopback", lambda: calls.append("loopback"))
    for joins, expected in ((False, ["loopback", "init"]), (True, ["init"])):
        calls.clear()
        monkeypatch.setattr(train_ray, "_starts_its_own_ray", lambda joins=joins: not joins)
        train_ray.ray_init_local()
        assert calls == expected


def test_starting_and_joining_are_told_apart(monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert not train_ray._starts_its_own_ray(), "RAY_ADDRESS: a cluster is joined"
