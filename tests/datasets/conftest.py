"""Writers of small, valid raw files in each dataset's format, for the reader and corpus tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def ntu_text(bodies_per_frame: list[list[tuple[str, np.ndarray]]], newline: str = "\n") -> str:
    """NTU .skeleton text; each frame is a list of (body id, (25, 3) xyz) pairs."""
    out = [str(len(bodies_per_frame))]
    for frame in bodies_per_frame:
        out.append(str(len(frame)))
        for body_id, xyz in frame:
            out.append(f"{body_id} 0 1 1 1 1 0 0.1 -0.2 2")
            out.append("25")
            out += [f"{x:.7g} {y:.7g} {z:.7g} 250.1 180.2 1000.3 500.4 0.1 0.2 0.3 0.4 2" for x, y, z in xyz]
    return newline.join(out) + newline


def person(rng: np.random.Generator, t: int, x0: float = 0.0) -> np.ndarray:
    """(t, 25, 3) of a plausible upright body (taller than wide) that moves a little."""
    base = np.stack([rng.uniform(-0.25, 0.25, 25) + x0, np.linspace(-0.8, 0.8, 25), np.full(25, 3.0)], 1)
    return base + 0.02 * rng.standard_normal((t, 25, 3)).cumsum(0)


def write_ntu(path: Path, frames: list[list[tuple[str, np.ndarray]]], newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ntu_text(frames, newline).encode())
    return path


def one_body_frames(xyz: np.ndarray, body_id: str = "72057594037931101") -> list[list[tuple[str, np.ndarray]]]:
    return [[(body_id, f)] for f in xyz]


@pytest.fixture
def ntu_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A valid one-body NTU file of 12 frames and its (12, 25, 3) coordinates."""
    xyz = person(np.random.default_rng(0), 12)
    return write_ntu(tmp_path / "S001C002P003R001A013.skeleton", one_body_frames(xyz)), xyz


def write_ucla(path: Path, xyz: np.ndarray, label: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"file_name": path.stem, "label": label, "skeletons": xyz.tolist()}))
    return path


def write_pku_release(root: Path, videos: dict[str, tuple[np.ndarray, str]], train: list[str], test: list[str]) -> Path:
    """A PKU-MMD release folder: videos maps name -> ((T, 150) values, label file text)."""
    for sub in ("skeleton", "label", "split"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, (values, labels) in videos.items():
        (root / "skeleton" / f"{name}.txt").write_text(
            "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in values)
        )
        (root / "label" / f"{name}.txt").write_text(labels)
    for split in ("cross-subject", "cross-view"):
        (root / "split" / f"{split}.txt").write_text(
            f"Training videos: \n{', '.join(train)}\nValidataion videos: \n{', '.join(test)}\n"
        )
    return root
