"""bench/bench_epoch.py without timing anything: both epochs (ours, through the engine's own epoch function, and
the CrosSCLR-style reference) run on a few random NW-UCLA-shaped samples, so a change of the engine's
signatures breaks a test here, not the next `make bench`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bench_epoch as B  # noqa: E402


def test_both_epochs_run_on_a_few_samples(monkeypatch):
    small = B.profile
    monkeypatch.setattr(B, "profile", lambda *extra: small("pretrain.batch_size=4", "contrastive.queue_size=16",
                                                          *extra))
    x = np.random.default_rng(0).standard_normal((12, 3, 50, 20, 1)).astype(np.float32)  # (N, C, T, V, M)
    assert B.ours(x, 1, "fp32") > 0
    assert B.reference(x, 1, 4) > 0
