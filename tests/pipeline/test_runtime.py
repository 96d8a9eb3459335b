"""Import hygiene, the allocator settings and the torch.compile path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.config import ContrastiveConfig
from models.registry import build_model
from pipeline.runtime import allocator_env, autocast, compile_encoders_

_PROBE = """
import sys
sys.modules["ray"] = None
sys.modules["mlflow"] = None
import pkgutil, importlib, models
for m in pkgutil.iter_modules(models.__path__):
    importlib.import_module("models." + m.name)
roots = ("datasets", "pipeline", "ray", "mlflow")
bad = sorted(n for n, mod in sys.modules.items() if mod is not None and n.split(".")[0] in roots)
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
def test_compiled_encoders_give_the_same_loss(tiny_encoder, layout, batch) -> None:
    con = ContrastiveConfig(queue_size=32, weight_motion=0.0, weight_bone=0.0)
    torch.manual_seed(0)
    model = build_model(tiny_encoder, con, **layout).eval()
    x1, x2 = {"joint": batch[0]}, {"joint": batch[1]}
    with torch.no_grad():
        ref = model.loss(model(x1, x2), crossed=True).loss
        assert compile_encoders_(model) == 4
        got = model.loss(model(x1, x2), crossed=True).loss
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
