"""Skeleton layouts as data: joints, 1-based edges exactly as each dataset numbers them.

One canonical tensor layout is used everywhere in this project:

    one sample : (C, T, V, M)   C = 3 coordinates (x, y, z), T frames, V joints, M bodies
    a batch    : (N, C, T, V, M)

Each edge is a ``(child, parent)`` pair of 1-based joint numbers where ``parent`` is one hop closer
to the layout's centre joint, so the same tuple drives the ST-GCN graph (models/graph.py receives
it as a constructor argument), the bone stream (bone = joint - parent, Eq. 8) and the bone mask
unit of the spatiotemporal occlusion mask (Eq. 11). The 0-based form is derived once, here.

NTU hand joints 22-25. Public implementations disagree:

* ``"chain"`` (default): tip -> thumb -> hand, i.e. (22, 23), (23, 8), (24, 25), (25, 12). This is
  st-gcn's ``net/utils/graph.py`` (layout ``ntu-rgb+d``), kept by CTR-GCN ``graph/ntu_rgb_d.py``
  and by the CrosSCLR / SkeletonCLR code this paper builds on.
* ``"hand"``: tip and thumb both attached to the hand, (22, 8), (23, 8), (24, 12), (25, 12), as in
  the Kinect v2 joint hierarchy and pyskl ``pyskl/utils/graph.py`` (layout ``nturgb+d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CANONICAL_LAYOUT = "CTVM"
"""Axis order of one stored sample; a batch prepends N."""

HandConvention = Literal["chain", "hand"]


@dataclass(frozen=True)
class SkeletonLayout:
    """A skeleton: joint names, 1-based (child, parent) edges and the centre joint (1-based)."""

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    center: int

    def __post_init__(self) -> None:
        v = len(self.joint_names)
        children = [c for c, _ in self.edges]
        if len(set(children)) != len(children):
            raise ValueError(f"{self.name}: a joint has two parents")
        if self.center in children:
            raise ValueError(f"{self.name}: the centre joint {self.center} must have no parent")
        if len(self.edges) != v - 1:
            raise ValueError(f"{self.name}: a tree over {v} joints has {v - 1} edges, got {len(self.edges)}")
        for c, p in self.edges:
            if not (1 <= c <= v and 1 <= p <= v) or c == p:
                raise ValueError(f"{self.name}: bad edge ({c}, {p})")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def edges0(self) -> tuple[tuple[int, int], ...]:
        """The edges, 0-based, same order."""
        return tuple((c - 1, p - 1) for c, p in self.edges)

    @property
    def center0(self) -> int:
        return self.center - 1

    @property
    def shoulders0(self) -> tuple[int, int]:
        """0-based (left, right) shoulder joints, which the view normalisation aligns with +x."""
        names = [n.lower() for n in self.joint_names]
        return names.index("left shoulder"), names.index("right shoulder")

    @property
    def parents0(self) -> tuple[int, ...]:
        """0-based parent of every joint; the centre joint is its own parent (its bone is zero)."""
        parent = list(range(self.num_joints))
        for c, p in self.edges0:
            parent[c] = p
        return tuple(parent)


NTU_JOINT_NAMES = (
    "base of spine", "middle of spine", "neck", "head",
    "left shoulder", "left elbow", "left wrist", "left hand",
    "right shoulder", "right elbow", "right wrist", "right hand",
    "left hip", "left knee", "left ankle", "left foot",
    "right hip", "right knee", "right ankle", "right foot",
    "spine", "tip of left hand", "left thumb", "tip of right hand", "right thumb",
)  # fmt: skip

_NTU_BODY_EDGES = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
)  # fmt: skip
_NTU_HAND_EDGES: dict[str, tuple[tuple[int, int], ...]] = {
    "chain": ((22, 23), (23, 8), (24, 25), (25, 12)),  # st-gcn / CTR-GCN / CrosSCLR
    "hand": ((22, 8), (23, 8), (24, 12), (25, 12)),  # Kinect v2 hierarchy / pyskl
}


def ntu_layout(hands: HandConvention = "chain") -> SkeletonLayout:
    """NTU RGB+D 60/120 (Kinect v2, 25 joints), centre joint 21 ("spine") as in st-gcn."""
    if hands not in _NTU_HAND_EDGES:
        raise ValueError(f"unknown NTU hand convention {hands!r}; expected one of {sorted(_NTU_HAND_EDGES)}")
    return SkeletonLayout(f"ntu-{hands}", NTU_JOINT_NAMES, _NTU_BODY_EDGES + _NTU_HAND_EDGES[hands], 21)


UCLA_JOINT_NAMES = (
    "hip center", "spine", "shoulder center", "head",
    "left shoulder", "left elbow", "left wrist", "left hand",
    "right shoulder", "right elbow", "right wrist", "right hand",
    "left hip", "left knee", "left ankle", "left foot",
    "right hip", "right knee", "right ankle", "right foot",
)  # fmt: skip

# NW-UCLA (Kinect v1, 20 joints): CTR-GCN graph/ucla.py, edges pointing to joint 3 (shoulder centre).
_UCLA_EDGES = (
    (1, 2), (2, 3), (4, 3), (5, 3), (6, 5), (7, 6), (8, 7), (9, 3), (10, 9), (11, 10), (12, 11),
    (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
)  # fmt: skip


def ucla_layout() -> SkeletonLayout:
    """NW-UCLA (Kinect v1, 20 joints), centre joint 3 (shoulder centre) as in CTR-GCN."""
    return SkeletonLayout("ucla", UCLA_JOINT_NAMES, _UCLA_EDGES, 3)
