"""One parsed recording (or one labelled interval of a PKU-MMD video), before resizing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    """A parsed sample at its original frame count.

    Shape:
        data: (C, T, V, M) float32, C = 3 (x, y, z), T the original frame count, V joints,
            M bodies (padded with zeros; a frame where a body is absent is all zeros for it).

    Metadata fields a dataset does not have are 0 (e.g. PKU-MMD Part I names no performer; Part II
    names the subject).
    ``camera`` is the camera / view number (NTU camera, NW-UCLA view, PKU-MMD L=1, M=2, R=3).
    """

    data: np.ndarray
    label: int  # 0-based class index
    source: str  # file name the sample came from (PKU-MMD: "<video>:<first>-<end>")
    setup: int = 0
    camera: int = 0
    performer: int = 0
    replication: int = 0
    num_frames: int = 0  # original frame count T of the recording (or interval)
    num_bodies: int = 0  # most bodies the raw file reports in one frame, before denoising/truncation

    def __post_init__(self) -> None:
        assert self.data.ndim == 4 and self.data.dtype == np.float32, (self.data.shape, self.data.dtype)
