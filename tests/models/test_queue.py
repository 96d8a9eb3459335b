"""The negative bank: FIFO for any (K, B <= K), wrap-around, and the batch > K error."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmoco.models.queue import NegativeQueue


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fifo_contents_for_any_size(data: st.DataObject) -> None:
    """After any sequence of enqueues the bank holds the last K keys, oldest first."""
    k = data.draw(st.integers(1, 12), label="K")
    batches = data.draw(st.lists(st.integers(1, k), max_size=8), label="batch sizes")
    bank = NegativeQueue(k, 2, streams=2)
    history = list(bank.oldest_first().transpose(0, 1))  # K entries of (S, D)
    counter = 0
    for b in batches:
        keys = torch.arange(counter, counter + b, dtype=torch.float32)[:, None, None].repeat(1, 2, 2)
        keys[:, 1] *= -1  # the second stream gets its own keys
        counter += b
        bank.enqueue(keys)
        history.extend(keys)
    torch.testing.assert_close(bank.oldest_first(), torch.stack(history[-k:]).transpose(0, 1))
    assert int(bank.ptr) == counter % k


def test_wraps_when_size_is_not_a_multiple_of_the_batch() -> None:
    bank = NegativeQueue(5, 1)
    for start in (0, 3, 6):
        bank.enqueue(torch.arange(start, start + 3, dtype=torch.float32)[:, None, None])
    assert bank.keys.flatten().tolist() == [5.0, 6.0, 7.0, 8.0, 4.0]
    assert int(bank.ptr) == 4


def test_batch_larger_than_bank_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="queue size"):
        NegativeQueue(4, 2).enqueue(torch.zeros(5, 1, 2))


def test_starts_with_unit_keys_and_saves_its_state() -> None:
    bank = NegativeQueue(8, 4, streams=3)
    torch.testing.assert_close(bank.keys.norm(dim=-1), torch.ones(3, 8))
    assert set(bank.state_dict()) == {"keys", "ptr"}
