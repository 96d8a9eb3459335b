"""ST-GCN's spatial partition on a 3-joint chain, worked by hand."""

from __future__ import annotations

import pytest
import torch

from crossmoco.models.graph import adjacency, hop_distance, spatial_partition


def test_adjacency_and_hops_of_a_chain() -> None:
    a = adjacency(3, [(1, 0), (2, 1)])
    assert torch.equal(a, torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]))
    assert torch.equal(hop_distance(a), torch.tensor([[0.0, 1, 2], [1, 0, 1], [2, 1, 0]]))
    assert torch.isinf(hop_distance(a, max_hop=1)[0, 2])


def test_spatial_partition_three_joint_chain() -> None:
    """Chain 0 - 1 - 2, centre 0; distances to the centre d = (0, 1, 2).

    Hop<=1 adjacency with self loops, column w (output joint) divided by its degree:
    deg = (2, 3, 2), so column 0 = (1/2, 1/2, 0), column 1 = (1/3, 1/3, 1/3), column 2 = (0, 1/2, 1/2).
    A[k, v, w] = weight of input v into output w.
      root:    the diagonal (1/2, 1/3, 1/2)
      farther: input farther from the centre than the output: (1 -> 0) = 1/2, (2 -> 1) = 1/3
      closer:  input closer: (0 -> 1) = 1/3, (1 -> 2) = 1/2
    Each output column sums to 1 over the three partitions.
    """
    a = spatial_partition(3, [(1, 0), (2, 1)], center=0)
    third = 1 / 3
    root = torch.diag(torch.tensor([0.5, third, 0.5]))
    farther = torch.tensor([[0, 0, 0], [0.5, 0, 0], [0, third, 0]])
    closer = torch.tensor([[0, third, 0], [0, 0, 0.5], [0, 0, 0]])
    torch.testing.assert_close(a, torch.stack([root, farther, closer]))
    torch.testing.assert_close(a.sum(dim=(0, 1)), torch.ones(3))


def test_partition_depends_on_the_centre() -> None:
    """Centre 1 (middle of the chain): both neighbours are farther, so 'closer' feeds only the ends."""
    a = spatial_partition(3, [(1, 0), (2, 1)], center=1)
    assert a[1, 0, 1] > 0 and a[1, 2, 1] > 0  # ends -> middle: farther
    assert a[2, 1, 0] > 0 and a[2, 1, 2] > 0  # middle -> ends: closer


def test_bad_layouts_raise() -> None:
    with pytest.raises(ValueError):
        spatial_partition(3, [(1, 0), (5, 1)], center=0)
    with pytest.raises(ValueError, match="connected"):
        spatial_partition(4, [(1, 0), (2, 1)], center=0)
    with pytest.raises(ValueError):
        spatial_partition(3, [(1, 0), (2, 1)], center=3)
