"""bench/bench_step.py without timing anything: the FLOP accounting, the skip of a precision the
hardware lacks (the capability check stubbed both ways), the cap, and the ratio lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bench_step as B  # noqa: E402
from flop_account import counter, ordered  # noqa: E402


@pytest.fixture
def bench(monkeypatch):
    args = argparse.Namespace(dataset="ucla", frames=8, batch=4, steps=1, warmup=1, threads=0, cap=60.0,
                              device="cpu", emulated_bf16=False, allocator=False, variants=",".join(B.VARIANTS))
    monkeypatch.setattr(B, "args", args, raising=False)
    monkeypatch.setattr(B, "DEVICE", torch.device("cpu"), raising=False)
    return args


def test_a_grouped_convolutions_weight_gradient_counts_once():
    """1x1 conv, 6 -> 6 channels in 3 groups, on a 1 x 6 x 2 x 2 input: the forward is 2 * 4 positions * 6
    outputs * 2 inputs per group = 96 FLOPs; input and weight gradients 96 each. torch's counter as shipped
    counts the weight gradient as an ungrouped one's, 3 x 96."""
    conv = nn.Conv2d(6, 6, 1, groups=3, bias=False)
    x = torch.randn(1, 6, 2, 2, requires_grad=True)
    for corrected, expected in ((True, 96 * 3), (False, 96 * 2 + 96 * 3)):
        with counter(corrected) as c:
            conv(x).sum().backward()
        assert c.get_total_flops() == expected


def test_the_parts_add_up_to_the_whole_step(bench):
    gf = B.account(batch=2)
    for kind, parts in gf.items():
        pieces = sum(v for k, v in parts.items() if k.endswith(("forward", "backward")))
        assert pieces == pytest.approx(parts["whole step, counted at once"], rel=1e-9), kind
    ours = gf["ours"]
    assert ours["torch's counter as shipped"] > 1.4 * ours["whole step, counted at once"]  # issue #32's 45%
    assert ours["query ST-GCN backward"] == pytest.approx(2 * ours["query ST-GCN forward"])
    assert ours["key ST-GCN forward"] == pytest.approx(ours["query ST-GCN forward"])
    assert "key ST-GCN backward" not in ours and "query ST-MLP head backward" in ours
    assert ordered(["loss forward", "key ST-GCN forward", "query ST-GCN backward", "query ST-GCN forward"]) == [
        "query ST-GCN forward", "query ST-GCN backward", "key ST-GCN forward", "loss forward"]


def _fake(variant: str, *a, **k) -> dict:
    return {"samples_s": 10.0 if variant.startswith("ours") else 5.0, "step_s": 0.1, "warmup_s": 1.0, "faults": 0}


@pytest.mark.parametrize("has_bf16", [False, True])
def test_a_precision_the_hardware_lacks_is_skipped_and_said(bench, monkeypatch, capsys, has_bf16):
    measured = []
    monkeypatch.setattr(B, "native_bf16", lambda device: "AMX-BF16" if has_bf16 else None)
    monkeypatch.setattr(B, "matmul_peak", lambda dtype, budget: (100.0, 2048))
    monkeypatch.setattr(B, "account", lambda: {k: {"whole step, counted at once": 5.0} for k in ("ours", "reference")})
    monkeypatch.setattr(B, "print_account", lambda gf: None)
    monkeypatch.setattr(B, "measure_capped", lambda v, *a, **k: measured.append(v) or _fake(v))
    B.main()
    out = capsys.readouterr().out
    bf16 = [v for v in B.VARIANTS if "bf16" in v]
    if has_bf16:
        assert set(measured) == set(B.VARIANTS) and "bf16 100 GFLOP/s" in out
        assert "ratio ours-bf16: 0.50 of the bf16 matmul peak, 2.00x the reference step's samples/s (2.00x its" \
               " GFLOP/s); targets with native bf16: >= 5.0x samples/s, >= 0.60 of the peak (not met)" in out
    else:
        assert not set(measured) & set(bf16) and "bf16 skipped (not native here)" in out
        assert all(f"{v:17s} skipped: this cpu has no native bf16" in out for v in bf16)
        assert "targets with no native bf16: >= 1.8x samples/s, >= 0.80 of the peak (not met)" in out


def test_a_measurement_past_the_cap_is_killed(bench, capsys):
    bench.cap = 0.01
    assert B.measure_capped("ours-fp32") is None
    assert "capped: no result within 0 s" in capsys.readouterr().out
