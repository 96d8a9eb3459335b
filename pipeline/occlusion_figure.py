"""The paper's Fig. 4: one skeleton sequence and its spatiotemporal occlusion mask at five frames.

The sequence is resized to 50 frames (§IV-B) and masked by datasets/occlusion.py (Eqs. 11-14) with
an explicit seed; panels t1..t5 show frames 10, 20, 30, 40 and 50 as the paper's caption says.
Each panel draws the skeleton on the layout's edges, seen from the camera: visible joints and
bones in blue, occluded joints as red crosses with their bones dashed red; a frame with every joint
occluded (blanked by the temporal mask, Eq. 13, in the ``every_frame_and_blank`` reading) is drawn
entirely in light red and labelled so. The title names the reading of Eq. (14) and the fraction of
joint-frames it zeroed in the whole sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from crossmoco.datasets.atomic import atomic_path
from crossmoco.datasets.config import OcclusionConfig
from crossmoco.datasets.locations import data_root
from crossmoco.datasets.ntu import read_ntu_skeleton
from crossmoco.datasets.occlusion import occlusion_mask
from crossmoco.datasets.preprocess import resize_frames
from crossmoco.datasets.skeleton import SkeletonLayout, ntu_layout

log = logging.getLogger(__name__)

FIG4_FRAMES = (10, 20, 30, 40, 50)  # t1..t5 of Fig. 4 (1-based frame numbers of the 50)
DEFAULT_FILE = "ntu/raw/S001C001P001R001A027.skeleton"  # real NTU "jump up", one of Fig. 4's actions


def default_sequence() -> Path:
    """The real NTU recording Fig. 4 uses by default (under the data root)."""
    return data_root() / DEFAULT_FILE


def _load(sample: np.ndarray | str | Path, num_frames: int) -> tuple[np.ndarray, str]:
    """A (C, T, V, M) array or an NTU file -> (C, num_frames, V, M) without its lost frames."""
    if isinstance(sample, (str, Path)):
        data, name = read_ntu_skeleton(sample).data, Path(sample).name
    else:
        data, name = np.asarray(sample, np.float32), "sequence"
    kept = np.abs(data).sum(axis=(0, 2, 3)) > 0  # (T,): drop frames where no body was tracked
    return resize_frames(data[:, kept] if kept.any() else data, num_frames), name


def _draw_body(ax, xy: np.ndarray, occluded: np.ndarray, frame_gone: bool, layout: SkeletonLayout) -> None:
    """One body in one panel. xy: (V, 2) image coordinates, occluded: (V,) bool."""
    for c, p in layout.edges0:
        hidden = frame_gone or occluded[c] or occluded[p]
        style = {"color": "#e8a0a0" if frame_gone else ("#d62728" if hidden else "#1f4e9c"),
                 "linestyle": "--" if hidden and not frame_gone else "-", "linewidth": 1.2 if hidden else 2.0}
        ax.plot(xy[[c, p], 0], xy[[c, p], 1], **style)
    seen = ~occluded if not frame_gone else np.zeros_like(occluded)
    ax.scatter(xy[seen, 0], xy[seen, 1], s=14, color="#1f4e9c", zorder=3)
    gone = ~seen
    ax.scatter(xy[gone, 0], xy[gone, 1], s=34, marker="x", color="#e8a0a0" if frame_gone else "#d62728",
               linewidths=1.6, zorder=4)  # fmt: skip


def _legend() -> list:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], color="#1f4e9c", marker="o", markersize=4, linewidth=2, label="visible joint / bone"),
        Line2D([], [], color="#d62728", marker="x", linestyle="--", label="occluded bone unit (Eqs. 11-12)"),
        Line2D([], [], color="#e8a0a0", marker="x", label="occluded frame (Eq. 13)"),
    ]


def plot_occlusion(
    sample: np.ndarray | str | Path,
    out_png: str | Path,
    *,
    occlusion: OcclusionConfig | None = None,
    seed: int = 0,
    frames: Sequence[int] = FIG4_FRAMES,
    num_frames: int = 50,
    layout: SkeletonLayout | None = None,
) -> Path:
    """Draw a sequence with its occlusion mask at ``frames`` (1-based) and save a PNG.

    Shape:
        sample: (C, T, V, M) array, or the path of an NTU ``.skeleton`` file
    """
    layout = layout or ntu_layout()
    cfg = occlusion or OcclusionConfig()
    data, name = _load(sample, num_frames)
    x = torch.from_numpy(data)[None]  # (1, C, T, V, M)
    g = torch.Generator().manual_seed(seed)
    spatial = occlusion_mask(x, layout.parents0, cfg, g)[1][0].numpy()  # (T, V, M), Eq. 14 in cfg.reading
    gone = spatial.all(axis=(1, 2))  # (T,): frames with every joint occluded (blanked by the temporal draw)
    present = np.abs(data).sum(axis=(0, 2)) > 0  # (T, M)
    xy = np.stack([-data[0], data[1]], axis=-1)  # (T, V, M, 2): Kinect x points to the camera's left
    points = xy.transpose(0, 2, 1, 3)[present].reshape(-1, 2)  # every present body's joints
    fig, axes = plt.subplots(1, len(frames), figsize=(2.4 * len(frames), 3.6))
    lo, hi = points.min(axis=0) - 0.1, points.max(axis=0) + 0.1
    for i, (ax, f) in enumerate(zip(np.atleast_1d(axes), frames, strict=True)):
        t = f - 1
        for m in np.flatnonzero(present[t]):
            _draw_body(ax, xy[t, :, m], spatial[t, :, m], bool(gone[t]), layout)
        hidden = "whole frame occluded" if gone[t] else f"{int(spatial[t, :, 0].sum())}/{layout.num_joints} occluded"
        ax.set_title(f"$t_{i + 1}$ (frame {f})\n{hidden}", fontsize=9)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.axis("off")
    zeroed = spatial.mean()
    fig.suptitle(f"Spatiotemporal occlusion mask (Eqs. 11-14, r = {cfg.spatial_rate}, beta = {cfg.temporal_rate}), "
                 f"reading {cfg.reading}\n{name}: {zeroed:.0%} of joint-frames zeroed", fontsize=10)  # fmt: skip
    fig.legend(handles=_legend(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    log.info("wrote the occlusion figure of %s to %s", name, out)
    return out
