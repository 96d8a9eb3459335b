"""The spatiotemporal occlusion mask of §III-D, Eqs. (11)-(14), batched and loop-free.

Spatial part (Eqs. 11-12): in every skeleton (one body of one sample, in one frame or for the
whole sequence, see ``OcclusionConfig.spatial_sampling``) ``k = round(r x N_j)`` joints are drawn
without replacement (``RandomSampler``); the mask unit is a bone, so every drawn joint ("seed") is
occluded together with an adjacent joint on one of its bones (``OcclusionConfig.partner``), and
``D_Spatial(X) = X (.) Mask_j`` zeroes them. Temporal part (Eq. 13): ``round(beta x T)`` whole
frames of each sample are drawn and zeroed. Composition (Eq. 14):
``D_Spatiotemporal(X) = D_Temporal(D_Spatial(X))``.

How the draw is vectorised: every joint of every skeleton gets a uniform draw ``u`` (float64, so
ties have probability ~1e-14); the k joints with the smallest ``u`` are the seeds, which is a
uniform sample without replacement. Each joint also gets a partner. A joint ``w`` becomes occluded
once the seeds, taken in order of ``u``, reach either ``w`` itself or a joint whose partner is
``w``; that happens at ``cover[w] = min(u[w], min{u[v] : partner[v] = w})`` (one
``scatter_reduce``). With ``s`` the ascending sort of a row:

* ``count="seeds"``: the first k seeds are used, so ``occluded = cover <= sort(u)[k-1]``;
* ``count="joints"``: seeds are added until at least k joints are occluded, which happens exactly
  when the seed order passes ``sort(cover)[k-1]``, so ``occluded = cover <= sort(cover)[k-1]``
  (the last bone can add one joint beyond k).

How Eq. (14) composes the two draws is ``OcclusionConfig.reading`` (the paper's text supports
several readings; ``composed_mask`` below, and the table in ``datasets/config.py``):

* ``"every_frame_and_blank"``: the spatial draw in every frame, then ``round(beta x T)`` frames
  blanked: D_Temporal(D_Spatial(X)) read literally. At (0.5, 0.6) 80% of joint-frames are zeroed,
  half the frames are blank and none is clean.
* ``"in_selected_frames"``: the temporal draw selects the ``round(beta x T)`` frames in which the
  spatial draw occludes bones; the other frames stay clean, none is blank (~31% zeroed).
* ``"random_rate_in_selected_frames"``: as above, each selected frame with its own spatial rate
  drawn uniformly in [0, r] (~16% zeroed).
* ``"random_rate_every_frame"``: every frame with its own spatial rate uniform in [0, r], no
  temporal selection (beta unused; ~33% zeroed at r = 0.6).

Masks are boolean, ``True`` = occluded. All random numbers come from the explicit ``generator``,
which must live on ``x.device``; spatial draws happen before temporal draws (the per-frame rates
of the random-rate readings are drawn after the joints' uniforms, so the first reading draws
exactly what it drew before the others existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from crossmoco.datasets.config import OcclusionConfig


@lru_cache(maxsize=16)
def _partner_table(parents0: tuple[int, ...], partner: str) -> tuple[tuple[int, ...], ...]:
    """For every joint, the joints that may complete its bone (Eq. 11's mask unit).

    ``"parent"``: the joint's parent; the centre joint (its own parent) uses its children.
    ``"random"``: every neighbour along the edges (parent and children). A joint without
    neighbours (a 1-joint layout) pairs with itself.
    """
    v = len(parents0)
    children: list[list[int]] = [[] for _ in range(v)]
    for c, p in enumerate(parents0):
        if c != p:
            children[p].append(c)
    table = []
    for c, p in enumerate(parents0):
        parent = [] if c == p else [p]
        candidates = parent if (partner == "parent" and parent) else parent + children[c]
        table.append(tuple(candidates) or (c,))
    return tuple(table)


def _draw_partners(shape: tuple[int, ...], parents0: Sequence[int], partner: str, generator) -> Tensor:
    """One partner joint per joint, uniform among its candidates.

    Shape:
        shape = (..., V) -> (..., V) long
    """
    if partner not in ("parent", "random"):
        raise ValueError(f"unknown occlusion partner {partner!r}; expected 'parent' or 'random'")
    table = _partner_table(tuple(parents0), partner)
    device = generator.device
    width = max(len(row) for row in table)
    padded = torch.tensor([row + row[:1] * (width - len(row)) for row in table], device=device)  # (V, D)
    counts = torch.tensor([len(row) for row in table], device=device)  # (V,)
    u = torch.rand(shape, generator=generator, device=device)
    choice = (u * counts).long().clamp(max=counts - 1)  # (..., V), an index into each row
    return padded.flatten()[torch.arange(len(table), device=device) * width + choice]


def _rates(rate: float, n: int, mode: str, generator) -> Tensor:
    """Each of ``n`` samples' rate (Eqs. 11, 13): ``mode="fixed"`` the rate as printed; ``"uniform"`` a
    rate drawn in [0, rate] per sample.

    Shape:
        -> (n,) float
    """
    device = generator.device
    if mode == "fixed":
        return torch.full((n,), rate, device=device)
    if mode == "uniform":
        return rate * torch.rand(n, generator=generator, device=device)
    raise ValueError(f"unknown occlusion rate_mode {mode!r}; expected 'fixed' or 'uniform'")


def _count(rates: Tensor, size: int) -> Tensor:
    """round(rate x size): how many of ``size`` items a rate draws (Eqs. 11, 13), half up, so 0.5 x 25 -> 13
    (not banker's 12)."""
    return torch.floor(rates * size + 0.5).long()


def _num_drawn(rate: float, size: int, n: int, mode: str, generator) -> Tensor:
    """How many of ``size`` items each of ``n`` samples draws: round(rate x size) (Eqs. 11, 13).

    Shape:
        -> (n,) long
    """
    return _count(_rates(rate, n, mode, generator), size)


def _uniform(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Uniform draws on the generator's device: float64 (no ties) where the device has it (not MPS)."""
    dtype = torch.float32 if generator.device.type == "mps" else torch.float64
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)


def _kth_smallest(values: Tensor, k: Tensor) -> Tensor:
    """The k-th smallest value of each row (k >= 1), or -inf where k = 0 (nothing is below it).

    Shape:
        values: (..., K), k: broadcastable to (..., 1) long -> (..., 1)
    """
    k = k.expand(*values.shape[:-1], 1)
    kth = values.sort(dim=-1).values.gather(-1, (k - 1).clamp(min=0))
    return torch.where(k > 0, kth, torch.full_like(kth, -torch.inf))


RANDOM_RATE_READINGS = ("random_rate_in_selected_frames", "random_rate_every_frame")


def spatial_mask(x: Tensor, parents0: Sequence[int], cfg: OcclusionConfig, generator: torch.Generator) -> Tensor:
    """The joints that Eqs. (11)-(12) occlude, bone by bone, in every body (``True`` = occluded).

    Each body of each sample is occluded independently; with ``per_sequence`` sampling the same
    joints are occluded in every frame. With a random-rate reading (``cfg.reading``) every frame
    draws its own rate in [0, r] (per-sequence sampling: one rate for the sequence).

    Shape:
        x: (N, C, T, V, M) -> (N, T, V, M) bool
    """
    n, _, t, v, m = x.shape
    if len(parents0) != v:
        raise ValueError(f"parents0 has {len(parents0)} joints but x has V = {v}")
    if cfg.spatial_sampling not in ("per_frame", "per_sequence"):
        raise ValueError(f"unknown spatial_sampling {cfg.spatial_sampling!r}")
    frames = t if cfg.spatial_sampling == "per_frame" else 1
    rates = _rates(cfg.spatial_rate, n, cfg.rate_mode, generator)  # (N,)
    k = _count(rates, v).view(n, 1, 1, 1)  # (N, 1, 1, 1)
    u = _uniform((n, frames, m, v), generator)
    partner = _draw_partners((n, frames, m, v), parents0, cfg.partner, generator)  # (N, T', M, V)
    cover = u.scatter_reduce(-1, partner, u, reduce="amin", include_self=True)  # (N, T', M, V)
    if cfg.reading in RANDOM_RATE_READINGS:  # each frame its own rate, uniform in [0, the sample's rate]
        frame_rates = rates.view(n, 1) * torch.rand((n, frames), generator=generator, device=generator.device)
        k = _count(frame_rates, v).view(n, frames, 1, 1)  # (N, T', 1, 1)
    if cfg.count == "seeds":
        occluded = cover <= _kth_smallest(u, k)
    elif cfg.count == "joints":
        occluded = cover <= _kth_smallest(cover, k)
    else:
        raise ValueError(f"unknown occlusion count {cfg.count!r}; expected 'seeds' or 'joints'")
    return occluded.permute(0, 1, 3, 2).expand(n, t, v, m).to(x.device)  # (N, T, V, M)


def temporal_mask(x: Tensor, cfg: OcclusionConfig, generator: torch.Generator) -> Tensor:
    """The whole frames that Eq. (13) occludes in every sample (``True`` = occluded).

    Shape:
        x: (N, C, T, V, M) -> (N, T) bool
    """
    n, t = x.shape[0], x.shape[2]
    k = _num_drawn(cfg.temporal_rate, t, n, cfg.rate_mode, generator).view(n, 1)  # (N, 1)
    u = _uniform((n, t), generator)
    return (u <= _kth_smallest(u, k)).to(x.device)


def apply_spatial(x: Tensor, occluded: Tensor) -> Tensor:
    """D_Spatial(X) = X (.) Mask_j (Eq. 12).

    Shape:
        x: (N, C, T, V, M), occluded: (N, T, V, M) bool -> (N, C, T, V, M)
    """
    return x.masked_fill(occluded.unsqueeze(1), 0.0)


def apply_temporal(x: Tensor, occluded_frames: Tensor) -> Tensor:
    """D_Temporal(X): whole frames zeroed (Eq. 13).

    Shape:
        x: (N, C, T, V, M), occluded_frames: (N, T) bool -> (N, C, T, V, M)
    """
    return x.masked_fill(occluded_frames[:, None, :, None, None], 0.0)


def composed_mask(spatial: Tensor, frames: Tensor | None, reading: str) -> Tensor:
    """Eq. (14)'s composition of the spatial and the temporal draw, by ``reading``.

    ``every_frame_and_blank``: ``spatial | frames`` (bones everywhere, selected frames blank);
    ``in_selected_frames`` and ``random_rate_in_selected_frames``: ``spatial & frames`` (bones only
    inside the selected frames); ``random_rate_every_frame``: ``spatial`` (no temporal draw).

    Shape:
        spatial: (N, T, V, M) bool, frames: (N, T) bool or None -> (N, T, V, M) bool
    """
    if reading == "random_rate_every_frame":
        return spatial
    if frames is None:
        raise ValueError(f"occlusion reading {reading!r} needs the temporal draw")
    selected = frames[:, :, None, None]  # (N, T, 1, 1)
    if reading == "every_frame_and_blank":
        return spatial | selected
    if reading in ("in_selected_frames", "random_rate_in_selected_frames"):
        return spatial & selected
    raise ValueError(f"unknown occlusion reading {reading!r}")


def occlusion_mask(
    x: Tensor, parents0: Sequence[int], cfg: OcclusionConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """The spatiotemporal occlusion mask, D = D_Temporal(D_Spatial(X)) (Eq. 14), as ``cfg.reading`` reads it.

    Returns the masked batch and the combined boolean mask (``True`` = occluded, a joint of an
    occluded bone or of a blanked frame).

    Shape:
        x: (N, C, T, V, M) -> ((N, C, T, V, M), (N, T, V, M) bool)
    """
    spatial = spatial_mask(x, parents0, cfg, generator)  # (N, T, V, M)
    frames = None if cfg.reading == "random_rate_every_frame" else temporal_mask(x, cfg, generator)  # (N, T)
    occluded = composed_mask(spatial, frames, cfg.reading)  # (N, T, V, M)
    # every_frame_and_blank: = apply_temporal(apply_spatial(x, spatial), frames), one pass (zeroing commutes)
    return apply_spatial(x, occluded), occluded


def mask_statistics(occluded: Tensor, second: Tensor | None = None) -> dict[str, float]:
    """What a mask leaves: the fractions of joint-frames zeroed, of clean frames (nothing occluded) and of
    blank frames (every joint occluded); with a second view's mask of the same samples, the fraction of
    joint-frames visible in both views.

    Shape:
        occluded, second: (N, T, V, M) bool -> {name: fraction in [0, 1]}
    """
    per_frame = occluded.flatten(2)  # (N, T, V*M)
    stats = {"zeroed": occluded.float().mean().item(),
             "clean_frames": (~per_frame.any(dim=2)).float().mean().item(),
             "blank_frames": per_frame.all(dim=2).float().mean().item()}
    if second is not None:
        stats["visible_in_both"] = (~occluded & ~second).float().mean().item()
    return stats


def setting_statistics(
    parents0: Sequence[int], cfg: OcclusionConfig, *, samples: int = 512, frames: int = 50, bodies: int = 1,
    seed: int = 0,
) -> dict[str, float]:
    """``mask_statistics`` of a setting, measured on two independent views of ``samples`` sequences (what a
    pretraining pair sees): zeroed joint-frames, clean and blank frames, joint-frames visible in both views."""
    x = torch.ones(samples, 1, frames, len(parents0), bodies)
    g = torch.Generator().manual_seed(seed)
    first = occlusion_mask(x, parents0, cfg, g)[1]
    second = occlusion_mask(x, parents0, cfg, g)[1]
    return mask_statistics(first, second)
