"""A local run's Ray listens on loopback only.

Command: any Ray command on one machine (``chain``, ``pretrain``, ``grid``, ``reproduce``, ``demo``),
which starts a local Ray through ``pipeline.train_ray.ray_init_local``.
Holds while it runs: every TCP port that Ray's processes listen on (GCS, raylet, object manager,
workers and actors, dashboard and its agent, metrics, runtime-env agent) is bound to 127.0.0.1
(or ``::ffff:127.0.0.1``), none to all interfaces or a routable address. The sockets are read
from ``/proc`` (the process tree of a fresh driver), as ``ss -ltnp`` shows them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PROBE = r'''
import json, os, socket, struct, sys, time
from pathlib import Path
import ray
from pipeline.train_ray import ray_init_local

ray_init_local(num_cpus=1)

@ray.remote
class Echo:
    def pid(self):
        return os.getpid()

echo = Echo.remote()
ray.get(echo.pid.remote())
time.sleep(2)  # agents finish binding

def tree(root):
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    pids, grew = {root}, True
    while grew:
        new = {p for p, pp in parent.items() if pp in pids} - pids
        pids |= new
        grew = bool(new)
    return pids

def inodes(pids):
    out = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    out[link[8:-1]] = pid
        except OSError:
            pass
    return out

def address(hex_addr, v6):
    ip, port = hex_addr.split(":")
    raw = bytes.fromhex(ip)
    if v6:
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
        return socket.inet_ntop(socket.AF_INET6, raw), int(port, 16)
    return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)

mine = inodes(tree(os.getpid()))
listening = []
for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
    for line in Path(table).read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A" and f[9] in mine:  # state LISTEN, a socket of this process tree
            host, port = address(f[1], v6)
            cmd = Path(f"/proc/{mine[f[9]]}/cmdline").read_text().replace("\0", " ")[:60]
            listening.append([host, port, cmd])
ray.shutdown()
print("@@" + json.dumps(listening))
'''

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_local_ray_listens_on_loopback_only(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ADDRESS": ""}
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")]
    listening = json.loads(line[2:])
    assert len(listening) >= 5, "GCS, raylet, workers and agents were found"
    exposed = [entry for entry in listening if entry[0] not in LOOPBACK]
    assert not exposed, "\n".join(f"{h}:{p}  {cmd}" for h, p, cmd in exposed)
