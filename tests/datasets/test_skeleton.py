"""Pin the skeleton layouts: both NTU hand conventions and the NW-UCLA tree."""

from __future__ import annotations

import pytest

from crossmoco.datasets.registry import layout_for
from crossmoco.datasets.skeleton import ntu_layout, ucla_layout


def test_ntu_default_is_the_stgcn_chain() -> None:
    assert ntu_layout().edges == ntu_layout("chain").edges
    assert layout_for("ntu60").name == "ntu-chain"


def test_ntu_chain_hands_follow_stgcn_and_ctrgcn() -> None:
    edges = set(ntu_layout("chain").edges)
    assert {(22, 23), (23, 8), (24, 25), (25, 12)} <= edges
    parents = ntu_layout("chain").parents0
    assert parents[21] == 22 and parents[22] == 7 and parents[23] == 24 and parents[24] == 11  # 0-based


def test_ntu_hand_convention_follows_kinect_and_pyskl() -> None:
    edges = set(ntu_layout("hand").edges)
    assert {(22, 8), (23, 8), (24, 12), (25, 12)} <= edges
    assert not {(22, 23), (24, 25)} & edges


def test_conventions_share_the_body_and_differ_only_in_hands() -> None:
    chain, hand = set(ntu_layout("chain").edges), set(ntu_layout("hand").edges)
    assert len(chain) == len(hand) == 24 and len(chain & hand) == 22  # (23, 8) and (25, 12) are in both
    assert ntu_layout("chain").center == ntu_layout("hand").center == 21
    assert ntu_layout("hand").num_joints == 25


def test_ucla_layout() -> None:
    layout = ucla_layout()
    assert layout.num_joints == 20 and len(layout.edges) == 19 and layout.center == 3
    assert layout_for("ucla") == layout
    assert (1, 2) in layout.edges and (20, 19) in layout.edges


def test_unknown_names_are_errors() -> None:
    with pytest.raises(ValueError, match="hand convention"):
        ntu_layout("thumbs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown dataset"):
        layout_for("kinetics")
