"""The reference: NTU parsing done the way st-gcn's reader does it, for bench_io.py only.

Re-implemented from the description of st-gcn's ``tools/utils/ntu_read_skeleton.py`` and
``tools/ntu_gendata.py`` (not copied): one dict per frame, body and joint built line by line in
Python with ``float()`` for every field, then an xyz array of the first ``max_body`` bodies in file
order; ``gendata`` fills one big array padded to ``max_frame`` frames, saved with ``np.save`` and
read back with ``np.load``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BODY_KEYS = ("bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
             "handRightState", "isResticted", "leanX", "leanY", "trackingState")  # fmt: skip
JOINT_KEYS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW", "orientationX",
              "orientationY", "orientationZ", "trackingState")  # fmt: skip


def read_skeleton(path: str | Path) -> dict:
    with open(path) as f:
        seq = {"numFrame": int(f.readline()), "frameInfo": []}
        for _ in range(seq["numFrame"]):
            frame = {"numBody": int(f.readline()), "bodyInfo": []}
            for _ in range(frame["numBody"]):
                body = {k: float(v) for k, v in zip(BODY_KEYS, f.readline().split(), strict=False)}
                body["numJoint"] = int(f.readline())
                body["jointInfo"] = [
                    {k: float(v) for k, v in zip(JOINT_KEYS, f.readline().split(), strict=False)}
                    for _ in range(body["numJoint"])
                ]
                frame["bodyInfo"].append(body)
            seq["frameInfo"].append(frame)
    return seq


def read_xyz(path: str | Path, max_body: int = 2, num_joint: int = 25) -> np.ndarray:
    """(3, T, V, M) float64, bodies in file order."""
    seq = read_skeleton(path)
    data = np.zeros((3, seq["numFrame"], num_joint, max_body))
    for n, frame in enumerate(seq["frameInfo"]):
        for m, body in enumerate(frame["bodyInfo"]):
            for j, v in enumerate(body["jointInfo"]):
                if m < max_body and j < num_joint:
                    data[:, n, j, m] = [v["x"], v["y"], v["z"]]
    return data


def gendata(paths: list[Path], out: Path, max_frame: int = 300) -> None:
    """All files into one (N, 3, max_frame, 25, 2) float32 array saved with np.save."""
    fp = np.zeros((len(paths), 3, max_frame, 25, 2), dtype=np.float32)
    for i, p in enumerate(paths):
        data = read_xyz(p)[:, :max_frame]
        fp[i, :, : data.shape[1]] = data
    np.save(out, fp)
