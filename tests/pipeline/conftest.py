"""Fixtures for pipeline tests: synthetic shards (made once per session), MLflow, one local Ray."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def smoke_overrides() -> list[str]:
    """Smallest chain that still exercises every stage."""
    return ["pretrain.epochs=2", "eval.linear_epochs=3", "eval.finetune_epochs=1", "eval.semi_epochs=1",
            "eval.protocols=linear,knn", "pretrain.batch_size=16"]


assert sys.version_info >= (3, 10)
