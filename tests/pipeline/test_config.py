"""Configuration: dotted overrides, validation errors, profiles, flat-dict round trip, stable hash."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmoco.pipeline.config_file import PROFILES, load_config
from crossmoco.training.config import Config, ConfigError, apply_overrides, config_hash, from_flat_dict, to_flat_dict


def test_override_sets_nested_values_with_declared_types():
    cfg = apply_overrides(
        Config(),
        ["contrastive.num_banks=3", "contrastive.tau=0.2", "pretrain.compile=true", "eval.features=gcn"],
    )
    assert cfg.contrastive.num_banks == 3 and isinstance(cfg.contrastive.num_banks, int)
    assert cfg.contrastive.tau == pytest.approx(0.2)
    assert cfg.pretrain.compile is True
    assert cfg.eval.features == "gcn"
    assert Config().contrastive.num_banks == 2, "overrides must not mutate the base"


def test_tuple_fields_of_one_section_are_validated_together():
    cfg = apply_overrides(Config(), ["encoder.channels=8,16", "encoder.strides=1,2"])
    assert cfg.encoder.channels == (8, 16) and cfg.encoder.strides == (1, 2)
    with pytest.raises(ConfigError, match="encoder.channels"):
        apply_overrides(Config(), ["encoder.channels=8,16"])  # strides left at 10 entries


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("contrastive.num_bank=3", "unknown config key 'contrastive.num_bank'"),
        ("nope.x=1", "unknown config key 'nope.x'"),
        ("contrastive.num_banks=two", "contrastive.num_banks: expected int"),
        ("contrastive.tau=warm", "contrastive.tau: expected float"),
        ("pretrain.compile=maybe", "pretrain.compile: expected bool"),
        ("contrastive.encoders=both", "contrastive.encoders: expected one of 'gcn', 'mlp'"),
        ("encoder.channels=8,x", "encoder.channels: expected a comma-separated list of int"),
        ("contrastive.num_banks=4", "num_banks must be 1, 2 or 3"),
        ("encoder=3", "is a section"),
        ("seed.deep=1", "is a value, not a section"),
        ("justakey", "not of the form key=value"),
    ],
)
def test_bad_overrides_name_the_key_and_expected_type(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        apply_overrides(Config(), [override])


def test_overrides_never_evaluate_code():
    with pytest.raises(ConfigError):
        apply_overrides(Config(), ["contrastive.num_banks=__import__('os').getpid()"])
    cfg = apply_overrides(Config(), ["data.split=__import__('os')"])  # a str field keeps the text
    assert cfg.data.split == "__import__('os')"


def test_profiles_are_overrides_of_the_base():
    for name, overrides in PROFILES.items():
        cfg = load_config(name)
        assert cfg == apply_overrides(Config(), overrides), name
    paper = load_config("paper")
    assert paper.optim.lr == pytest.approx(0.1)  # the lineage's; §IV-B's printed 1e-5 is read as a misprint
    assert paper.pretrain.epochs == 300 and paper.contrastive.queue_size == 16384 and paper.pretrain.batch_size == 128
    assert paper.contrastive.momentum == 0.999 and paper.contrastive.cross_start_epoch == 150
    # §IV-B: the mask "instead of" shear and crop, in the reading Fig. 4's text supports
    assert paper.augment.steps == ("occlusion",) and paper.augment.occlusion.reading == "in_selected_frames"
    cpu = load_config("cpu")
    steps = cpu.pretrain.epochs * (1020 // cpu.pretrain.batch_size)  # NW-UCLA's training side
    assert 1000 <= steps <= 2400 and cpu.contrastive.queue_size <= 1020 // 2
    with pytest.raises(ConfigError, match="unknown profile"):
        load_config("fast")


def test_user_overrides_apply_after_the_profile():
    cfg = load_config("smoke", ["pretrain.epochs=7"])
    assert cfg.pretrain.epochs == 7 and cfg.contrastive.queue_size == load_config("smoke").contrastive.queue_size


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_flat_dict_round_trip_is_lossless(profile):
    cfg = load_config(profile)
    flat = to_flat_dict(cfg)
    assert json.loads(json.dumps(flat)) == flat, "flat values must be JSON-ready for Ray and MLflow"
    assert from_flat_dict(flat) == cfg
    # MLflow returns params as strings: the round trip must survive that too.
    assert from_flat_dict({k: str(v) for k, v in flat.items()}) == cfg


def test_flat_dict_covers_every_leaf():
    def leaves(obj, prefix=""):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            yield from leaves(v, f"{prefix}{f.name}.") if dataclasses.is_dataclass(v) else [f"{prefix}{f.name}"]

    assert set(to_flat_dict(Config())) == set(leaves(Config()))


def test_from_flat_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr'"):
        from_flat_dict({"optim.lrr": 0.1})


def test_config_hash_is_stable_and_sensitive():
    assert config_hash(Config()) == config_hash(Config())
    assert len(config_hash(Config())) == 12
    assert config_hash(Config()) != config_hash(apply_overrides(Config(), ["seed=1"]))
    # Pinned so that an accidental change of defaults (which changes every run's identity) is seen.
    assert config_hash(from_flat_dict(to_flat_dict(Config()))) == config_hash(Config())


@settings(max_examples=30, deadline=None)
@given(
    banks=st.sampled_from([1, 2, 3]),
    tau=st.floats(min_value=1e-3, max_value=10, allow_nan=False),
    layers=st.sampled_from([1, 2, 3]),
    mode=st.sampled_from(["gcn", "mlp", "uncrossed", "crossed"]),
)
def test_round_trip_property(banks, tau, layers, mode):
    cfg = apply_overrides(
        Config(),
        [f"contrastive.num_banks={banks}", f"contrastive.tau={tau!r}", f"encoder.mlp_layers={layers}",
         f"contrastive.encoders={mode}"],
    )
    assert cfg.contrastive.tau == tau
    assert from_flat_dict(to_flat_dict(cfg)) == cfg
    assert from_flat_dict({k: str(v) for k, v in to_flat_dict(cfg).items()}) == cfg
