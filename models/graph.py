"""Skeleton graph of ST-GCN (Yan et al. 2018, §3.3 "spatial configuration partitioning").

A layout enters as data: the joint count, 0-based ``(child, parent)`` edges and the centre joint.
The result is a stack of three normalised adjacency matrices ``A`` of shape ``(3, V, V)``:

* ``A[0]`` root: every joint with itself;
* ``A[1]`` neighbours at least as far from the centre as the joint they feed (st-gcn's ``a_close``
  plus same-distance neighbours, which a tree does not have);
* ``A[2]`` neighbours closer to the centre than the joint they feed (st-gcn's ``a_further``).

The order and the split follow st-gcn's code so weights stay comparable with that lineage; the
ST-GCN paper calls the two neighbour groups centrifugal and centripetal relative to the root.

Entry ``A[k, v, w]`` is the weight with which input joint ``v`` contributes to output joint ``w``,
so a graph convolution is ``y[..., w] = sum_{k, v} x_k[..., v] A[k, v, w]``. The normalisation is
st-gcn's ``normalize_digraph``: the hop<=1 adjacency (self loops included) divided by each output
joint's degree, so the three partitions of one output joint sum to 1 (a mean over its neighbours).
This matches st-gcn ``net/utils/graph.py`` (``strategy="spatial"``, ``max_hop=1``), which the
SkeletonCLR / CrosSCLR code reuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

NUM_PARTITIONS = 3  # root, centripetal, centrifugal


@dataclass(frozen=True)
class SkeletonGraph:
    """A skeleton as every model constructor receives it: joint count, 0-based ``(child, parent)``
    edges pointing towards ``center``, and the centre joint. The dataset's layout makes one
    (``training.modeling.DataInfo.of``); tests build toy graphs directly. The parent table of the bone
    stream is the layout's (``datasets.skeleton.SkeletonLayout.parents0``)."""

    num_joints: int
    edges: tuple[tuple[int, int], ...]
    center: int

    def __post_init__(self) -> None:
        if not 0 <= self.center < self.num_joints:
            raise ValueError(f"centre joint {self.center} out of range for {self.num_joints} joints")
        for child, parent in self.edges:
            if not (0 <= child < self.num_joints and 0 <= parent < self.num_joints) or child == parent:
                raise ValueError(f"bad 0-based edge ({child}, {parent}) for {self.num_joints} joints")

    def partition(self) -> Tensor:
        """ST-GCN's ``(3, V, V)`` spatial-configuration adjacency (see ``spatial_partition``)."""
        return spatial_partition(self.num_joints, self.edges, self.center)


def adjacency(num_joints: int, edges: Sequence[tuple[int, int]]) -> Tensor:
    """Symmetric 0/1 adjacency without self loops.

    Shape: returns ``(V, V)`` float32.
    """
    a = torch.zeros(num_joints, num_joints)
    for child, parent in edges:
        if not (0 <= child < num_joints and 0 <= parent < num_joints) or child == parent:
            raise ValueError(f"bad 0-based edge ({child}, {parent}) for {num_joints} joints")
        a[child, parent] = a[parent, child] = 1.0
    return a


def hop_distance(a: Tensor, max_hop: int | None = None) -> Tensor:
    """Shortest-path length between every pair of joints (``inf`` when unreachable or > max_hop).

    Shape: ``a`` is ``(V, V)``; returns ``(V, V)``.
    """
    v = a.shape[0]
    max_hop = v if max_hop is None else max_hop
    dist = torch.full((v, v), float("inf"))
    reach = torch.eye(v, dtype=torch.bool)
    step = (a > 0) | torch.eye(v, dtype=torch.bool)
    for d in range(max_hop + 1):  # breadth-first by boolean matrix powers; V <= 25 here
        dist[reach & torch.isinf(dist)] = d
        reach = (reach.float() @ step.float()) > 0
    return dist


def spatial_partition(num_joints: int, edges: Sequence[tuple[int, int]], center: int) -> Tensor:
    """ST-GCN's normalised spatial-configuration adjacency.

    Shape: returns ``(3, V, V)``; ``A[k, v, w]`` is input joint ``v`` -> output joint ``w``.
    """
    if not 0 <= center < num_joints:
        raise ValueError(f"centre joint {center} out of range for {num_joints} joints")
    a = adjacency(num_joints, edges)
    hop = hop_distance(a, max_hop=1)
    linked = torch.isfinite(hop).float()  # hop <= 1, self loops included
    norm = linked / linked.sum(dim=0, keepdim=True)  # column w divided by the degree of w
    to_center = hop_distance(a)[:, center]  # (V,)
    if torch.isinf(to_center).any():
        raise ValueError("the skeleton graph is not connected")
    d_in, d_out = to_center[:, None], to_center[None, :]  # (V, 1) source v, (1, V) target w
    eye = torch.eye(num_joints)
    root = norm * eye
    farther = norm * (1 - eye) * (d_in >= d_out)
    closer = norm * (d_in < d_out)
    return torch.stack([root, farther, closer])
