"""Every config field is set somewhere other than its default: by a profile, a table row, a test or a
benchmark (issue 35). A field nothing sets is a branch nothing runs; ``unset_fields`` counts them, and
the tests below set the fields that only a user's ``--set`` would otherwise reach, each checking what
the field changes where it is read."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmoco.datasets import preprocess_plan
from crossmoco.datasets.augment import augment
from crossmoco.datasets.preprocess import to_fixed_size
from crossmoco.datasets.registry import layout_for
from crossmoco.datasets.sample import Sample
from crossmoco.models.graph import SkeletonGraph
from crossmoco.models.stgcn import STGCN
from crossmoco.pipeline.config_file import PROFILES
from crossmoco.pipeline.data import validation_cameras
from crossmoco.training.config import Config, apply_overrides, to_flat_dict
from crossmoco.training.engine import _make_optimizer
from crossmoco.training.schedule import learning_rate

ROOT = Path(__file__).resolve().parents[2]
SETTERS = ("experiments", "tests", "bench")  # with the profiles: where a field may be set


def _sections(cfg: object, prefix: str = "") -> dict[str, str]:
    """{"augment.occlusion": "OcclusionConfig", ...}: each section's dotted path and class name."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out[prefix + f.name] = type(value).__name__
            out.update(_sections(value, f"{prefix}{f.name}."))
    return out


def _set_patterns(key: str, sections: dict[str, str]) -> list[str]:
    """How source text sets ``key``: ``key=value`` (an override, ``--set``, ``--over``), ``"key": value`` (a
    flat dict), ``SectionConfig(..., name=...)`` or ``replace(cfg.section, ..., name=...)``."""
    section, _, name = key.rpartition(".")
    pats = [rf"(?<![\w.]){re.escape(key)}\s*=(?!=)", rf"[\"']{re.escape(key)}[\"']\s*:"]
    cls = sections[section] if section else "Config"
    pats.append(rf"\b{cls}\([^)]*\b{name}\s*=(?!=)")
    if section:
        pats.append(rf"replace\([\w.]*\b{section.rpartition('.')[2]},[^)]*\b{name}\s*=(?!=)")
    return pats


def unset_fields(root: Path = ROOT) -> list[str]:
    """The config's fields that no profile, row, test or benchmark sets."""
    texts = [p.read_text() for d in SETTERS for p in sorted((root / d).rglob("*.py"))]
    texts += ["\n".join(overrides) for overrides in PROFILES.values()]
    text = "\n".join(texts)
    sections = _sections(Config())
    return [key for key in to_flat_dict(Config())
            if not any(re.search(p, text) for p in _set_patterns(key, sections))]


def test_every_config_field_is_set_by_a_profile_row_test_or_benchmark():
    assert unset_fields() == []


def _cfg(*overrides: str) -> Config:
    return apply_overrides(Config(), overrides)


# ----------------------------------------------------------------------------------------- data


def test_val_cameras_names_the_held_out_views():
    cameras = np.array([1, 1, 2, 2, 3])
    assert validation_cameras(cameras, _cfg().data.val_cameras) == (3,)  # default: the highest
    assert validation_cameras(cameras, _cfg("data.val_cameras=1,2").data.val_cameras) == (1, 2)


# ----------------------------------------------------------------------------------- preprocess


def _two_body_sample() -> Sample:
    rng = np.random.default_rng(0)
    return Sample(data=rng.normal(size=(3, 12, 25, 2)).astype(np.float32), label=0, performer=1, camera=1,
                  source="toy")


def test_max_bodies_and_rotate_shape_the_fixed_size_sample():
    sample, layout = _two_body_sample(), layout_for("ntu60")
    one = to_fixed_size(sample, _cfg("preprocess.max_bodies=1").preprocess, layout.center0, layout.shoulders0)
    assert one.data.shape == (3, 50, 25, 1)
    turned = to_fixed_size(sample, _cfg().preprocess, layout.center0, layout.shoulders0)
    kept = to_fixed_size(sample, _cfg("preprocess.rotate=none").preprocess, layout.center0, layout.shoulders0)
    assert not np.allclose(turned.data, kept.data)
    # a rotation about y keeps each joint's height and its distance from the vertical axis
    np.testing.assert_allclose(turned.data[1], kept.data[1], atol=1e-5)
    np.testing.assert_allclose(np.hypot(turned.data[0], turned.data[2]), np.hypot(kept.data[0], kept.data[2]),
                               atol=1e-4)


def test_hands_chooses_the_ntu_hand_joints_parents():
    chain, hand = (layout_for("ntu60", _cfg(f"preprocess.hands={h}").preprocess.hands) for h in ("chain", "hand"))
    assert chain.parents0 != hand.parents0


def test_denoise_and_max_bodies_reach_the_ntu_reader(monkeypatch):
    seen = {}

    def reader(path, *, max_bodies, denoise):
        seen.update(max_bodies=max_bodies, denoise=denoise)
        return _two_body_sample()

    monkeypatch.setattr(preprocess_plan.ntu, "read_ntu_skeleton", reader)
    cfg = _cfg("preprocess.denoise=false", "preprocess.max_bodies=2").preprocess
    preprocess_plan.read_ntu_task(preprocess_plan.Task(preprocess_plan.read_ntu_task, ("x.skeleton",), cfg, 0))
    assert seen == {"max_bodies": 2, "denoise": False}


# -------------------------------------------------------------------------------------- augment


@pytest.mark.parametrize("none, some", [
    (("augment.steps=shear", "augment.shear_amplitude=0"), ("augment.steps=shear", "augment.shear_amplitude=0.5")),
    (("augment.steps=view", "augment.scale_amplitude=0"), ("augment.steps=view", "augment.scale_amplitude=0.5")),
    # T // crop_padding frames of padding: 12 // 100 = 0 leaves the one window, the whole sequence
    (("augment.steps=crop", "augment.crop_padding=100"), ("augment.steps=crop", "augment.crop_padding=2")),
])
def test_an_augment_step_at_amplitude_zero_is_the_identity(none, some):
    x = torch.randn(4, 3, 12, 5, 1)
    parents0 = (0, 0, 1, 2, 3)
    torch.testing.assert_close(augment(x, parents0, _cfg(*none).augment, torch.Generator().manual_seed(0)), x)
    assert not torch.allclose(augment(x, parents0, _cfg(*some).augment, torch.Generator().manual_seed(0)), x)


# -------------------------------------------------------------------------------------- encoder


def test_temporal_kernel_and_edge_importance_shape_the_encoder():
    graph = SkeletonGraph(4, ((1, 0), (2, 1), (3, 0)), 0)
    enc = _cfg("encoder.channels=4,4,4", "encoder.strides=1,1,1", "encoder.temporal_kernel=3",
               "encoder.edge_importance=false", "encoder.dropout=0.25").encoder
    model = STGCN(enc, graph)
    kernels = {m.kernel_size[0] for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] > 1}
    assert kernels == {3}
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.25}  # blocks after the first
    assert all(getattr(b, "importance", None) is None for b in model.modules())
    with_importance = STGCN(_cfg("encoder.channels=4,4", "encoder.strides=1,1").encoder, graph)
    assert any(getattr(b, "importance", None) is not None for b in with_importance.modules())


# --------------------------------------------------------------------------------- contrastive


def test_loss_weights_of_eqs_3_and_4_set_the_chance_level():
    """Eq. (5)'s chance level: log(1 + (lam K + phi K) / (alpha + beta)) for one bank a side (InfoNCE form)."""
    from crossmoco.models.registry import build_model

    graph = SkeletonGraph(4, ((1, 0), (2, 1), (3, 0)), 0)
    c = _cfg("contrastive.alpha=0.5", "contrastive.beta=0.25", "contrastive.lam=0.75", "contrastive.phi=0.25",
             "contrastive.queue_size=8", "contrastive.num_banks=2")
    enc = _cfg("encoder.channels=4,4", "encoder.strides=1,1").encoder
    model = build_model("crossmoco", enc, c.contrastive, graph, streams=1, num_classes=2)
    assert model.chance(crossed=True) == pytest.approx(np.log1p((0.75 * 8 + 0.25 * 8) / (0.5 + 0.25)))


def test_weight_joint_zero_drops_the_joint_stream():
    assert "joint" not in _cfg("contrastive.weight_joint=0").contrastive.stream_weights
    assert set(_cfg().contrastive.stream_weights) == {"joint", "motion", "bone"}


def test_shuffle_bn_groups_splits_the_key_batch():
    from crossmoco.models.shuffle_bn import encode_in_groups

    groups = _cfg("contrastive.shuffle_bn_groups=3").contrastive.shuffle_bn_groups
    with pytest.raises(ValueError, match="contrastive.shuffle_bn_groups"):
        encode_in_groups(lambda x: (x,), torch.zeros(2, 1), groups)


# ---------------------------------------------------------------------------------------- optim


def test_optimiser_fields_reach_the_optimiser():
    model = torch.nn.Linear(2, 2)
    sgd = _make_optimizer(_cfg("optim.momentum=0.5", "optim.weight_decay=0.01", "optim.nesterov=true"), model)
    group = sgd.param_groups[0]
    assert isinstance(sgd, torch.optim.SGD) and (group["momentum"], group["weight_decay"], group["nesterov"]) == (
        0.5, 0.01, True)
    adam = _make_optimizer(_cfg("optim.optimizer=adam", "optim.lr=1e-5"), model)  # §IV-B's printed rate, with Adam
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == 1e-5


def test_gamma_is_the_step_decay_factor():
    optim = _cfg("optim.schedule=step", "optim.milestones=5", "optim.gamma=0.5", "optim.warmup_epochs=0").optim
    assert learning_rate(optim, 0.0, 10) == pytest.approx(optim.lr)
    assert learning_rate(optim, 6, 10) == pytest.approx(optim.lr * 0.5)


# ------------------------------------------------------------------------------------ resources


@pytest.mark.parametrize("overrides, backend", [
    ((), "gloo"), (("resources.use_gpu=true",), "nccl"), (("resources.use_gpu=true", "resources.backend=gloo"), "gloo"),
])
def test_backend_auto_follows_the_device(overrides, backend):
    assert _cfg(*overrides).resources.ddp_backend == backend
