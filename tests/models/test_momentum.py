"""Eq. (1) in MoCo's form, by hand and as properties."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmoco.models.momentum import key_copy, momentum_update_


def test_eq1_by_hand() -> None:
    """theta_k = (1, 2), theta_q = (3, 6), m = 0.75:
    m theta_k + (1 - m) theta_q = (0.75 + 0.75, 1.5 + 1.5) = (1.5, 3.0).
    (Eq. 1 as printed, theta_k + (1 - m) theta_q, would give (1.75, 3.5).)"""
    key, query = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    momentum_update_([key], [query], 0.75)
    torch.testing.assert_close(key, torch.tensor([1.5, 3.0]))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**16))
def test_m1_keeps_and_m0_copies(n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    query = [torch.randn(n, 3, generator=g) for _ in range(2)]
    key = [torch.randn(n, 3, generator=g) for _ in range(2)]
    before = [k.clone() for k in key]
    momentum_update_(key, query, 1.0)
    assert all(torch.equal(k, b) for k, b in zip(key, before, strict=True))
    momentum_update_(key, query, 0.0)
    assert all(torch.equal(k, q) for k, q in zip(key, query, strict=True))


def test_key_copy_is_frozen_and_equal() -> None:
    query = torch.nn.Linear(3, 2)
    key = key_copy(query)
    assert all(not p.requires_grad for p in key.parameters())
    assert all(torch.equal(a, b) for a, b in zip(key.parameters(), query.parameters(), strict=True))
