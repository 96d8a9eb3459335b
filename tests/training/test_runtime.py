"""Import hygiene, the allocator settings and the torch.compile path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crossmoco.models.config import ContrastiveConfig, EncoderConfig
from crossmoco.models.graph import SkeletonGraph
from crossmoco.models.registry import build_model
from crossmoco.models.stgcn import STGCN
from crossmoco.training.runtime import allocator_env, autocast, compile_encoders_

_PROBE = """
import sys
sys.modules["ray"] = None
sys.modules["mlflow"] = None
import pkgutil, importlib
from crossmoco import models
for m in pkgutil.iter_modules(models.__path__):
    importlib.import_module("crossmoco.models." + m.name)
roots = ("crossmoco.datasets", "crossmoco.pipeline", "ray", "mlflow")
bad = sorted(n for n, mod in sys.modules.items() if mod is not None and n.startswith(roots))
assert not bad, bad
"""


def test_models_import_without_ray_mlflow_datasets_or_pipeline() -> None:
    subprocess.run([sys.executable, "-c", _PROBE], check=True, cwd=Path(__file__).resolve().parents[2])


def test_allocator_env_is_set_before_the_child_starts() -> None:
    env = allocator_env()
    assert env["MALLOC_MMAP_MAX_"] == "0" and int(env["MALLOC_TRIM_THRESHOLD_"]) >= 1 << 30


def test_autocast_rejects_unknown_precision() -> None:
    with pytest.raises(ValueError):
        autocast("fp16", "cpu")  # type: ignore[arg-type]


@pytest.mark.slow
def test_compiled_encoders_give_the_same_loss() -> None:
    graph = SkeletonGraph(4, ((1, 0), (2, 1), (3, 0)), 0)  # a 4-joint toy skeleton
    enc = EncoderConfig(channels=(8, 8, 16), strides=(1, 2, 1), dropout=0.0, embed_dim=16, mlp_hidden=16)
    torch.manual_seed(0)
    model = build_model("crossmoco", enc, ContrastiveConfig(queue_size=32), graph, streams=2).eval()
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(4, 2, 3, 8, 4, 1, generator=g)  # (N, S, C, T, V, M)
    x2 = x1 + 0.1 * torch.randn(x1.shape, generator=g)
    with torch.no_grad():
        ref = model.loss(model(x1, x2), crossed=True)
        stgcns = sum(isinstance(m, STGCN) for m in model.modules())
        assert stgcns >= 2 and compile_encoders_(model) == stgcns  # query and key encoders
        got = model.loss(model(x1, x2), crossed=True)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
