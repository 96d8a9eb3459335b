"""The spatiotemporal occlusion mask, Eqs. (11)-(14): rates, bone units, whole frames, Eq. 14."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmoco.datasets.config import OcclusionConfig
from crossmoco.datasets.occlusion import (
    apply_spatial,
    apply_temporal,
    composed_mask,
    mask_statistics,
    occlusion_mask,
    spatial_mask,
    temporal_mask,
)
from crossmoco.datasets.skeleton import ntu_layout

LAYOUT = ntu_layout()
V = LAYOUT.num_joints
OPTIONS = list(itertools.product(("per_frame", "per_sequence"), ("fixed", "uniform"), ("parent", "random"),
                                 ("seeds", "joints")))  # fmt: skip


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def neighbours() -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(V)]
    for c, p in LAYOUT.edges0:
        out[c].add(p)
        out[p].add(c)
    return out


def assert_union_of_bones(occluded: torch.Tensor) -> None:
    """Every occluded joint shares an edge with another occluded joint: the set is a union of bones."""
    nbrs = neighbours()
    skeletons = occluded.permute(0, 1, 3, 2).reshape(-1, V)  # (N*T*M, V)
    for row in skeletons.tolist():
        for w in (i for i, o in enumerate(row) if o):
            assert any(row[u] for u in nbrs[w]), f"joint {w} occluded without a neighbour: {row}"


def naive_mean_occluded(k: int, draws: int, rng: np.random.Generator) -> float:
    """A per-skeleton Python loop of Eq. (11) as worded: k random joints, each with its parent's bone."""
    children = [[c for c, p in LAYOUT.edges0 if p == v] for v in range(V)]
    total = 0
    for _ in range(draws):
        hit = set()
        for v in rng.choice(V, size=k, replace=False):
            p = LAYOUT.parents0[v]
            hit |= {int(v), p if p != v else int(rng.choice(children[v]))}
        total += len(hit)
    return total / (draws * V)


def test_default_rates_seed_count_matches_naive_loop_reference() -> None:
    x = torch.ones(400, 3, 10, V, 2)
    occluded = spatial_mask(x, LAYOUT.parents0, OcclusionConfig(count="seeds"), gen(0))  # r = 0.6 -> 15 seeds
    per_skeleton = occluded.sum(dim=2)  # (N, T, M)
    assert per_skeleton.min() >= 15 and per_skeleton.max() <= 25
    expected = naive_mean_occluded(15, 4000, np.random.default_rng(0))
    assert occluded.float().mean().item() == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.6, 1.0])
def test_joint_count_mode_covers_r_times_nj(rate: float) -> None:
    k = int(np.floor(rate * V + 0.5))
    occluded = spatial_mask(torch.ones(64, 3, 8, V, 2), LAYOUT.parents0,
                            OcclusionConfig(spatial_rate=rate, count="joints"), gen(1))
    counts = occluded.sum(dim=2)
    assert counts.min() >= k and counts.max() <= min(k + 1, V)


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
def test_temporal_fixed_rate_is_exact(beta: float) -> None:
    frames = temporal_mask(torch.ones(32, 3, 50, V, 2), OcclusionConfig(temporal_rate=beta), gen(2))
    assert frames.shape == (32, 50)
    assert (frames.sum(dim=1) == int(np.floor(beta * 50 + 0.5))).all()


def test_uniform_rate_mode_mean_is_half_the_maximum() -> None:
    cfg = OcclusionConfig(spatial_rate=0.6, temporal_rate=0.5, rate_mode="uniform", count="joints")
    x = torch.ones(4000, 3, 20, V, 1)
    frames = temporal_mask(x, cfg, gen(3)).float().sum(dim=1) / 20  # per-sample rate in [0, 0.5]
    assert frames.max() <= 0.5 + 1e-6 and frames.mean().item() == pytest.approx(0.25, abs=0.02)
    joints = spatial_mask(x, LAYOUT.parents0, cfg, gen(4)).float()  # (N, T, V, 1)
    per_sample = joints.sum(dim=2)[:, :, 0]
    k = per_sample.min(dim=1).values  # "joints" mode covers k or k + 1 joints in each frame
    assert (per_sample.max(dim=1).values - k <= 1).all(), "uniform mode draws one rate per sample"
    assert k.max() <= 15 and k.mean().item() / V == pytest.approx(0.3, abs=0.02)  # E[round(15 U)] / 25


def test_per_sequence_mask_is_the_same_in_every_frame() -> None:
    occluded = spatial_mask(torch.ones(8, 3, 12, V, 2), LAYOUT.parents0,
                            OcclusionConfig(spatial_sampling="per_sequence"), gen(5))
    assert (occluded == occluded[:, :1]).all()
    per_frame = spatial_mask(torch.ones(8, 3, 12, V, 2), LAYOUT.parents0, OcclusionConfig(), gen(5))
    assert not (per_frame == per_frame[:, :1]).all()


@pytest.mark.parametrize(("sampling", "rate_mode", "partner", "count"), OPTIONS)
def test_unit_is_always_a_whole_bone(sampling: str, rate_mode: str, partner: str, count: str) -> None:
    cfg = OcclusionConfig(spatial_sampling=sampling, rate_mode=rate_mode, partner=partner, count=count)
    assert_union_of_bones(spatial_mask(torch.ones(6, 3, 6, V, 2), LAYOUT.parents0, cfg, gen(6)))


def test_temporal_part_occludes_whole_frames() -> None:
    x = torch.randn(16, 3, 20, V, 2) + 5.0  # no coordinate is zero by chance
    cfg = OcclusionConfig(spatial_rate=0.0, reading="every_frame_and_blank")
    masked, occluded = occlusion_mask(x, LAYOUT.parents0, cfg, gen(7))
    assert occluded.any(), "beta = 0.5 blanks frames"
    frame_hit = occluded.any(dim=3).any(dim=2)  # (N, T)
    assert (occluded.all(dim=3).all(dim=2) == frame_hit).all(), "a frame is occluded entirely or not at all"
    assert (masked == 0).all(dim=1).equal(occluded)
    assert torch.equal(masked[~frame_hit.view(16, 1, 20, 1, 1).expand_as(x)], x[~frame_hit.view(16, 1, 20, 1, 1)
                                                                                 .expand_as(x)])


def test_composition_is_temporal_of_spatial_eq14() -> None:
    x = torch.randn(8, 3, 20, V, 2)
    cfg = OcclusionConfig(reading="every_frame_and_blank")  # Eq. (14) read literally
    masked, occluded = occlusion_mask(x, LAYOUT.parents0, cfg, gen(8))
    g = gen(8)  # the same draws in the same order: spatial first, then temporal
    spatial = spatial_mask(x, LAYOUT.parents0, cfg, g)
    frames = temporal_mask(x, cfg, g)
    assert torch.equal(masked, apply_temporal(apply_spatial(x, spatial), frames))
    assert torch.equal(occluded, spatial | frames[:, :, None, None])
    assert torch.equal(masked, x * ~occluded.unsqueeze(1))


def test_same_seed_same_mask_other_seed_other_mask() -> None:
    x = torch.randn(4, 3, 20, V, 2)
    a = occlusion_mask(x, LAYOUT.parents0, OcclusionConfig(), gen(9))
    b = occlusion_mask(x, LAYOUT.parents0, OcclusionConfig(), gen(9))
    c = occlusion_mask(x, LAYOUT.parents0, OcclusionConfig(), gen(10))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_toy_three_joint_chain_pairs_the_root_with_its_child() -> None:
    # Chain 2 -> 1 -> 0 and one seed: seed 0 (the root) pairs with 1, seed 1 with 0, seed 2 with 1.
    cfg = OcclusionConfig(spatial_rate=1 / 3)
    occluded = spatial_mask(torch.ones(500, 3, 1, 3, 1), (0, 0, 1), cfg, gen(11))[:, 0, :, 0]
    patterns = {tuple(r) for r in occluded.int().tolist()}
    assert patterns == {(1, 1, 0), (0, 1, 1)}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_runs_on_cuda_with_a_cuda_generator() -> None:
    x = torch.randn(4, 3, 20, V, 2, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    masked, occluded = occlusion_mask(x, LAYOUT.parents0, OcclusionConfig(), g)
    assert masked.device == x.device and occluded.device == x.device
    assert_union_of_bones(occluded.cpu() & ~occluded.cpu().all(dim=3).all(dim=2)[:, :, None, None])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), r=st.floats(0, 1), beta=st.floats(0, 1), option=st.sampled_from(OPTIONS),
       t=st.integers(1, 8))
def test_property_bones_and_rates(seed: int, r: float, beta: float, option: tuple, t: int) -> None:
    sampling, rate_mode, partner, count = option
    cfg = OcclusionConfig(spatial_rate=r, temporal_rate=beta, spatial_sampling=sampling, rate_mode=rate_mode,
                          partner=partner, count=count)
    x = torch.ones(3, 3, t, V, 2)
    g = gen(seed)
    spatial = spatial_mask(x, LAYOUT.parents0, cfg, g)
    frames = temporal_mask(x, cfg, g)
    assert_union_of_bones(spatial)
    k_max, counts = int(np.floor(r * V + 0.5)), spatial.sum(dim=2)
    assert counts.max() <= min((k_max + 1) if count == "joints" else 2 * k_max, V)
    if rate_mode == "fixed":
        assert counts.min() >= k_max
        assert (frames.sum(dim=1) == int(np.floor(beta * t + 0.5))).all()


# ------------------------------------------------------------------ readings of Eq. (14) (datasets/config.py)

CHAIN3 = (0, 0, 1)  # joints 2 -> 1 -> 0; bones (0, 1) and (1, 2)
BONES3 = {(1, 1, 0), (0, 1, 1)}


def test_readings_by_hand_on_a_three_joint_chain_of_two_frames() -> None:
    """r = 1/3 of 3 joints is one seed, grown to one bone (2 joints); beta = 0.5 of 2 frames is one frame.

    every_frame_and_blank: the bone in each frame, the selected frame blank: 2 + 3 = 5 of 6 joint-frames.
    in_selected_frames: the bone only in the selected frame, the other clean: 2 of 6.
    """
    x = torch.ones(200, 3, 2, 3, 1)
    for reading, zeroed in (("every_frame_and_blank", 5), ("in_selected_frames", 2)):
        cfg = OcclusionConfig(spatial_rate=1 / 3, temporal_rate=0.5, reading=reading)
        occluded = occlusion_mask(x, CHAIN3, cfg, gen(20))[1][..., 0]  # (N, T, V)
        assert (occluded.sum(dim=(1, 2)) == zeroed).all(), reading
        per_frame = occluded.int().sum(dim=2)  # (N, T)
        if reading == "every_frame_and_blank":
            assert sorted(set(map(tuple, per_frame.tolist()))) == [(2, 3), (3, 2)]
        else:
            assert sorted(set(map(tuple, per_frame.tolist()))) == [(0, 2), (2, 0)]
            hit = occluded[per_frame > 0]  # the selected frames' joints
            assert {tuple(r) for r in hit.int().tolist()} == BONES3


@pytest.mark.parametrize("reading", ["in_selected_frames", "random_rate_in_selected_frames"])
def test_selected_frame_readings_are_spatial_inside_the_temporal_draw(reading: str) -> None:
    x = torch.randn(8, 3, 20, V, 2)
    cfg = OcclusionConfig(reading=reading)
    masked, occluded = occlusion_mask(x, LAYOUT.parents0, cfg, gen(21))
    g = gen(21)  # the same draws in the same order: spatial (with its frame rates), then temporal
    spatial, frames = spatial_mask(x, LAYOUT.parents0, cfg, g), temporal_mask(x, cfg, g)
    assert torch.equal(occluded, spatial & frames[:, :, None, None])
    assert torch.equal(occluded, composed_mask(spatial, frames, reading))
    assert torch.equal(masked, x * ~occluded.unsqueeze(1))
    assert not occluded[~frames].any(), "frames the temporal draw did not select stay clean"
    assert not occluded.all(dim=3).all(dim=2).any(), "no frame is blank at r = 0.6"


def test_random_rate_every_frame_has_no_temporal_draw() -> None:
    x = torch.randn(6, 3, 20, V, 1)
    cfg = OcclusionConfig(reading="random_rate_every_frame", temporal_rate=0.9)
    _, occluded = occlusion_mask(x, LAYOUT.parents0, cfg, gen(22))
    assert torch.equal(occluded, spatial_mask(x, LAYOUT.parents0, cfg, gen(22)))
    assert torch.equal(composed_mask(occluded, None, "random_rate_every_frame"), occluded)
    with pytest.raises(ValueError, match="temporal draw"):
        composed_mask(occluded, None, "in_selected_frames")


def test_random_rate_per_frame_closed_form_on_the_chain() -> None:
    """r = 1 on the 3-joint chain: a frame's count k = round(3u), u uniform: P(k) = 1/6, 1/3, 1/3, 1/6 for
    k = 0..3; ``count="joints"`` covers 0, 2 (one bone), 2, 3 joints: E = (0 + 2/3 + 2/3 + 1/2) / 3 = 11/18."""
    cfg = OcclusionConfig(spatial_rate=1.0, reading="random_rate_every_frame")
    occluded = spatial_mask(torch.ones(4000, 3, 10, 3, 1), CHAIN3, cfg, gen(23))
    assert occluded.float().mean().item() == pytest.approx(11 / 18, abs=0.01)
    counts = occluded.sum(dim=2)[..., 0]  # (N, T)
    assert set(counts.unique().tolist()) == {0, 2, 3}
    assert (counts != counts[:, :1]).any(dim=1).float().mean() > 0.9, "each frame draws its own rate"


def test_random_rate_in_selected_frames_mean_is_half_the_fixed_one() -> None:
    x = torch.ones(2000, 3, 20, V, 1)
    fixed = occlusion_mask(x, LAYOUT.parents0, OcclusionConfig(reading="in_selected_frames"), gen(24))[1]
    drawn = occlusion_mask(x, LAYOUT.parents0, OcclusionConfig(reading="random_rate_in_selected_frames"), gen(24))[1]
    per_frame = drawn.sum(dim=2)[..., 0]  # (N, T)
    assert per_frame.max() <= 16  # round(0.6 x 25) + one joint of the last bone
    # E[round(15 u)] / 25 = 7.5 / 25 of a selected frame's joints (joints mode adds at most one per frame)
    assert drawn.float().mean().item() == pytest.approx(0.5 * 7.5 / 25, abs=0.02)
    assert fixed.float().mean().item() == pytest.approx(0.5 * 15.4 / 25, abs=0.02)


@pytest.mark.parametrize("reading", ["every_frame_and_blank", "in_selected_frames", "random_rate_in_selected_frames",
                                     "random_rate_every_frame"])
def test_every_reading_occludes_whole_bones(reading: str) -> None:
    cfg = OcclusionConfig(reading=reading)
    _, occluded = occlusion_mask(torch.ones(6, 3, 12, V, 2), LAYOUT.parents0, cfg, gen(25))
    blank = occluded.all(dim=3).all(dim=2)[:, :, None, None]  # blanked frames are whole, not bones
    assert_union_of_bones(occluded & ~blank)


def test_mask_statistics_by_hand() -> None:
    """One sample, 2 frames of 2 joints, 1 body: frame 0 blank, frame 1 clean -> half zeroed, one blank and
    one clean frame; a second view occluding joint 0 of frame 1 leaves 1 of 4 joint-frames visible in both."""
    a = torch.tensor([[[[True], [True]], [[False], [False]]]])  # (1, 2, 2, 1)
    b = torch.tensor([[[[False], [False]], [[True], [False]]]])
    stats = mask_statistics(a, b)
    assert stats == {"zeroed": 0.5, "clean_frames": 0.5, "blank_frames": 0.5, "visible_in_both": 0.25}
    assert "visible_in_both" not in mask_statistics(a)
