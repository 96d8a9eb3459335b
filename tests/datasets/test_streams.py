"""The three streams (Eqs. 6-8) against hand arithmetic on a 3-joint toy skeleton, plus properties."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from crossmoco.datasets.skeleton import ntu_layout
from crossmoco.datasets.streams import bone, joint, make_streams, motion

# Toy skeleton: joint 0 is the root, joint 1 hangs on 0, joint 2 hangs on 1 (a chain 2 -> 1 -> 0).
TOY_PARENTS0 = (0, 0, 1)


def toy_batch() -> torch.Tensor:
    """N=1, C=1 (x only), T=3, V=3, M=1; x[t, v] = 10 * t + v**2 so differences are easy by hand."""
    t = torch.arange(3.0).view(3, 1)
    v = torch.arange(3.0).view(1, 3)
    return (10 * t + v**2).view(1, 1, 3, 3, 1)


def test_joint_is_identity() -> None:
    x = toy_batch()
    assert torch.equal(joint(x), x)


def test_motion_by_hand() -> None:
    # x = [[0, 1, 4], [10, 11, 14], [20, 21, 24]] over (t, v): every step adds 10; last frame zero.
    out = motion(toy_batch())[0, 0, :, :, 0]
    assert torch.equal(out, torch.tensor([[10.0, 10, 10], [10, 10, 10], [0, 0, 0]]))


def test_bone_by_hand() -> None:
    # bone(v) = x(v) - x(parent(v)): root 0; joint 1: 1 - 0 = 1; joint 2: 4 - 1 = 3, in every frame.
    out = bone(toy_batch(), TOY_PARENTS0)[0, 0, :, :, 0]
    assert torch.equal(out, torch.tensor([[0.0, 1, 3]] * 3))


def test_make_streams_names_and_shapes() -> None:
    x = torch.randn(2, 3, 5, 25, 2)
    out = make_streams(x, ntu_layout().parents0)
    assert list(out) == ["joint", "motion", "bone"]
    assert all(v.shape == x.shape for v in out.values())
    assert list(make_streams(x, ntu_layout().parents0, names=("bone",))) == ["bone"]


def test_make_streams_rejects_unknown_name() -> None:
    try:
        make_streams(torch.zeros(1, 3, 2, 3, 1), TOY_PARENTS0, names=("velocity",))
    except ValueError as e:
        assert "velocity" in str(e)
    else:
        raise AssertionError("an unknown stream name must raise")


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=50, deadline=None)
@given(arrays("float32", st.tuples(st.integers(1, 2), st.just(3), st.integers(2, 6), st.just(25), st.integers(1, 2)),
              elements=finite))
def test_motion_equals_frame_difference(a) -> None:
    x = torch.from_numpy(a)
    out = motion(x)
    for t in range(x.shape[2] - 1):
        assert torch.equal(out[:, :, t], x[:, :, t + 1] - x[:, :, t])
    assert not out[:, :, -1].any()


@settings(max_examples=50, deadline=None)
@given(arrays("float32", st.tuples(st.integers(1, 2), st.just(3), st.integers(1, 4), st.just(25), st.integers(1, 2)),
              elements=finite), st.sampled_from(["chain", "hand"]))
def test_bone_zero_at_root_and_parent_difference(a, hands) -> None:
    layout = ntu_layout(hands)
    x = torch.from_numpy(a)
    out = bone(x, layout.parents0)
    assert not out[:, :, :, layout.center0].any()
    for c, p in layout.edges0:
        assert torch.equal(out[:, :, :, c], x[:, :, :, c] - x[:, :, :, p])
