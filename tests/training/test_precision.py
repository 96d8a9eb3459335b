"""pretrain.precision=auto: the capability check stubbed both ways, the resolved config's hash, the log lines."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from crossmoco.datasets.skeleton import ntu_layout
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.provenance import pretrain_key
from crossmoco.training import precision as P
from crossmoco.training.checkpoints import read_config
from crossmoco.training.config import config_hash
from crossmoco.training.engine import WorkerContext, run_pretraining
from crossmoco.training.modeling import DataInfo
from crossmoco.training.runtime import autocast

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})  # the AMD EPYC of issue #32
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch):
    monkeypatch.setattr(P, "_logged", set())


@pytest.fixture
def native(monkeypatch):
    """``native(True)`` / ``native(False)``: this CPU with or without native bf16."""

    def stub(has: bool) -> None:
        monkeypatch.setattr(P, "cpu_flags", lambda: SAPPHIRE_RAPIDS if has else AVX2_ONLY)

    return stub


def test_the_capability_check_reads_the_cpu_flags(monkeypatch):
    for flags, expected in ((AVX2_ONLY, None), (AVX2_ONLY | {"avx512_bf16"}, "AVX512-BF16"),
                            (SAPPHIRE_RAPIDS, "AMX-BF16 and AVX512-BF16")):  # fmt: skip
        monkeypatch.setattr(P, "cpu_flags", lambda f=flags: f)
        assert P.native_bf16("cpu") == expected
    assert P.native_bf16("mps") is None


def test_auto_is_bf16_only_where_it_is_native(native):
    native(True)
    choice = P.choose_precision("auto", "cpu")
    assert choice.precision == "bf16" and not choice.emulated and "AMX-BF16" in choice.describe()
    native(False)
    choice = P.choose_precision("auto", "cpu")
    assert choice.precision == "fp32" and not choice.emulated
    assert "no native bf16" in choice.describe() and "AVX512-BF16" in choice.describe()
    for has in (True, False):
        native(has)
        assert P.choose_precision("fp32", "cpu").precision == "fp32"
        assert P.choose_precision("bf16", "cpu").precision == "bf16"  # as asked, even where emulated
    with pytest.raises(ValueError, match="fp16"):
        P.choose_precision("fp16", "cpu")


def test_explicit_bf16_without_native_support_warns_once_with_its_cost(native, caplog):
    native(False)
    choice = P.choose_precision("bf16", "cpu")
    assert choice.emulated
    with caplog.at_level(logging.INFO, logger="crossmoco.training.precision"):
        P.log_choice(choice)
        P.log_choice(choice)  # a second call in the same process (the engine after the driver) adds nothing
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "\n" not in record.getMessage()
    assert "emulated" in record.getMessage() and "60 s" in record.getMessage()
    with caplog.at_level(logging.INFO, logger="crossmoco.training.precision"):
        P.log_choice(choice, "pretrain: 2 epochs, in ", always=True)  # a run's start line is always shown
    assert caplog.records[-1].getMessage().startswith("pretrain: 2 epochs, in bf16 (pretrain.precision=bf16 on")


def test_profiles_default_to_auto_and_resolve_before_hashing(native):
    """auto on native bf16 hashes as the explicit bf16 the cpu profile had, so recorded chains and
    pretrainings are found again; auto resolved to fp32 is another pretraining."""
    cpu = load_config("cpu", ["data.dataset=ucla", "data.split=xview"])
    assert cpu.pretrain.precision == "auto" and load_config("paper").pretrain.precision == "auto"
    assert load_config("smoke").pretrain.precision == "fp32"  # CI's numbers are the same on every machine
    before = load_config("cpu", ["data.dataset=ucla", "data.split=xview", "pretrain.precision=bf16"])
    native(True)
    resolved, choice = P.resolve_precision(cpu)
    assert resolved.pretrain.precision == "bf16" and choice.requested == "auto"
    assert config_hash(resolved) == config_hash(before)
    assert pretrain_key(resolved, "d") == pretrain_key(before, "d")
    native(False)
    resolved, choice = P.resolve_precision(cpu)
    assert resolved.pretrain.precision == "fp32" and config_hash(resolved) != config_hash(before)
    explicit, choice = P.resolve_precision(before)
    assert explicit.pretrain.precision == "bf16" and choice.emulated


def test_gpu_runs_resolve_for_the_device_that_trains(monkeypatch):
    monkeypatch.setattr(P.torch.cuda, "is_available", lambda: False)
    ray_gpu = load_config("paper")  # Ray Train workers with GPUs, driven from a CPU-only head
    resolved, choice = P.resolve_precision(ray_gpu)
    assert (choice.device_type, choice.remote, resolved.pretrain.precision) == ("cuda", True, "bf16")
    assert not choice.emulated and "not visible" in choice.describe()
    in_process = load_config("paper", ["resources.num_workers=0"])  # falls back to this CPU without a GPU
    assert P.run_device_type(in_process) == ("cpu", False)


def test_autocast_refuses_an_unresolved_auto():
    with pytest.raises(ValueError, match="resolve it first"):
        autocast("auto", "cpu")  # type: ignore[arg-type]


def test_the_engine_resolves_auto_on_its_own_device(native, tmp_path, caplog):
    """A direct run_pretraining call with auto: fp32 where bf16 is not native, bit for bit the explicit fp32
    run, and its checkpoint keeps the resolved value; after the first epoch a line says the time left."""
    info = DataInfo.of("synthetic", ntu_layout(), 4, "test")
    x = np.random.default_rng(0).normal(size=(24, 3, 8, 25, 2)).astype(np.float32)

    def run(value: str):
        cfg = load_config("smoke", ["pretrain.batch_size=8", "pretrain.epochs=2", f"pretrain.precision={value}"])
        return run_pretraining(cfg, x, info, WorkerContext(checkpoint_dir=tmp_path / value))

    native(False)
    with caplog.at_level(logging.INFO):
        auto, fp32 = run("auto"), run("fp32")
    assert auto.final_loss == fp32.final_loss
    assert read_config(auto.checkpoint).pretrain.precision == "fp32"
    eta = [r.getMessage() for r in caplog.records
           if r.name == "crossmoco.training.engine" and " left" in r.getMessage()]
    assert len(eta) == 2 and eta[0].startswith("pretrain: epoch 1 took") and "(fp32, " in eta[0]
    assert "min for the 1 epoch left" in eta[0]
