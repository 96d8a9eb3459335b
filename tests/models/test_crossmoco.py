"""CrossMoCo: Algorithm 1's interface, the bank plans of Table III, gradients, the crossed switch,
the chance level, bf16, and shuffling BN."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from crossmoco.models.config import ContrastiveConfig
from crossmoco.models.crossmoco import BANK_PLANS, CrossMoCo
from crossmoco.models.losses import crossmoco_loss, moco_loss
from crossmoco.models.registry import build_model
from crossmoco.training.runtime import autocast


def _model(enc, con, graph, streams: int = 2, **changes) -> CrossMoCo:
    torch.manual_seed(0)
    model = build_model("crossmoco", enc, dataclasses.replace(con, **changes), graph, streams=streams)
    assert isinstance(model, CrossMoCo)
    return model


@pytest.mark.parametrize(("shared", "num_banks"), list(itertools.product((True, False), (1, 2, 3))))
def test_shapes_and_banks(tiny_encoder, tiny_contrastive, graph, batch, shared, num_banks) -> None:
    enc = dataclasses.replace(tiny_encoder, mlp_shared_backbone=shared)
    model = _model(enc, tiny_contrastive, graph, num_banks=num_banks)
    out = model(*batch)
    for t in out:
        assert t.shape == (4, 2, 16)
        torch.testing.assert_close(t.norm(dim=-1), torch.ones(4, 2))
    assert len(model.banks) == num_banks and model.banks[0].keys.shape == (2, 32, 16)
    for crossed in (False, True):
        assert model.loss(out, crossed).shape == (2,)
    model.enqueue(out)
    assert model.features(batch[0]).shape == (4, 2, 16 if shared else 32)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("crossed", [False, True])
def test_every_query_parameter_gets_a_gradient_and_no_key_parameter(
    tiny_encoder, tiny_contrastive, graph, batch, shared, crossed
) -> None:
    enc = dataclasses.replace(tiny_encoder, mlp_shared_backbone=shared)
    model = _model(enc, tiny_contrastive, graph)
    model.loss(model(*batch), crossed=crossed).sum().backward()
    missing = [n for n, p in model.query.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    assert all(p.grad is None and not p.requires_grad for p in model.key.parameters())


def test_shared_backbone_is_one_module_on_both_sides(tiny_encoder, tiny_contrastive, graph) -> None:
    model = _model(tiny_encoder, tiny_contrastive, graph)  # the default: h = MLP o f
    assert model.query.h_base is None and model.key.h_base is None
    assert model.key.f is not model.query.f
    own = _model(dataclasses.replace(tiny_encoder, mlp_shared_backbone=False), tiny_contrastive, graph)
    assert own.query.h_base is not None and own.query.h_base.backbone is not own.query.f.backbone


def test_crossed_loss_is_eqs_3_to_5_on_the_paper_banks(tiny_encoder, tiny_contrastive, graph, batch) -> None:
    """crossed=True: q contrasts with l and bank N (ST-MLP keys), r with k and bank N* (ST-GCN keys)."""
    model = _model(tiny_encoder, tiny_contrastive, graph)
    out = model(*batch)
    c = model.cfg
    n, n_star = model.banks  # plan 2: bank 0 is fed l1, bank 1 is fed k1
    for s in range(2):
        q, k, r, l = (t[:, s] for t in out)  # noqa: E741
        ref = crossmoco_loss(q, k, r, l, n.keys[s], n_star.keys[s], tau=c.tau, alpha=c.alpha, beta=c.beta,
                             lam=c.lam, phi=c.phi, form=c.form).loss  # fmt: skip
        torch.testing.assert_close(model.loss(out, crossed=True)[s], ref)


def test_uncrossed_is_two_moco_losses_on_own_banks(tiny_encoder, tiny_contrastive, graph, batch) -> None:
    model = _model(tiny_encoder, tiny_contrastive, graph)
    out = model(*batch)
    n, n_star = model.banks
    q, k, r, l = (t[:, 0] for t in out)  # noqa: E741
    c = model.cfg
    ref = moco_loss(q, k, n_star.keys[0], tau=c.tau, form=c.form).loss
    ref = ref + moco_loss(r, l, n.keys[0], tau=c.tau, form=c.form).loss
    torch.testing.assert_close(model.loss(out, crossed=False)[0], ref)


@pytest.mark.parametrize("num_banks", [1, 2, 3])
def test_each_bank_gets_its_documented_feed(tiny_encoder, tiny_contrastive, graph, batch, num_banks) -> None:
    model = _model(tiny_encoder, tiny_contrastive, graph, num_banks=num_banks)
    out = model(*batch)
    model.enqueue(out)
    k, l = out.gcn_key, out.mlp_key  # noqa: E741
    expected = {1: [torch.cat([k, l])], 2: [l, k], 3: [l, k, F.normalize(k + l, dim=-1)]}[num_banks]
    for bank, feed in zip(model.banks, expected, strict=True):
        n = feed.shape[0]
        torch.testing.assert_close(bank.oldest_first()[:, -n:], feed.transpose(0, 1))
    assert len(BANK_PLANS[num_banks].feeds) == num_banks


def test_chance_level_matches_a_model_that_learned_nothing(tiny_encoder, tiny_contrastive, graph, batch) -> None:
    """All embeddings and bank keys equal: every similarity is 1, and the loss is the chance level,
    log K for the paper form (crossed) and 2 log(K + 1) for two InfoNCE losses (uncrossed)."""
    for form, crossed, ref in (("paper", True, math.log(32)), ("infonce", False, 2 * math.log(33))):
        model = _model(tiny_encoder, tiny_contrastive, graph, form=form)
        u = F.normalize(torch.ones(4, 2, 16), dim=-1)
        for bank in model.banks:
            bank.keys.copy_(u[0].unsqueeze(1).expand_as(bank.keys))
        out = type(model(*batch))(u, u, u, u)
        torch.testing.assert_close(model.loss(out, crossed), torch.full((2,), ref))
        assert model.chance(crossed) == pytest.approx(ref)


def test_momentum_update_moves_keys_toward_queries(tiny_encoder, tiny_contrastive, graph) -> None:
    model = _model(tiny_encoder, tiny_contrastive, graph)
    with torch.no_grad():
        for p in model.query.parameters():
            p.add_(1.0)
    model.momentum_update(0.0)
    assert all(torch.equal(k, q) for k, q in zip(model.key.parameters(), model.query.parameters(), strict=True))


def test_bf16_autocast_loss_within_tolerance_of_fp32(tiny_encoder, tiny_contrastive, graph, batch) -> None:
    """bf16 autocast (8-bit mantissa) on the encoders; the logits stay fp32. Stated tolerance: 2 %
    relative on the loss (observed well under 1 % on this case)."""
    model = _model(tiny_encoder, tiny_contrastive, graph).eval()
    with torch.no_grad():
        ref = model.loss(model(*batch), crossed=True)
        with autocast("bf16", "cpu"):
            out = model(*batch)
            low = model.loss(out, crossed=True)
    assert out.gcn_query.dtype == torch.bfloat16 and low.dtype == torch.float32
    assert ((low - ref).abs() <= 0.02 * ref.abs()).all()


def test_shuffle_bn_groups_keys_are_sample_aligned(tiny_encoder, tiny_contrastive, graph, batch) -> None:
    """With BN in eval mode (no batch statistics) shuffled sub-batches change nothing: keys come
    back in sample order; in train mode they differ (each sub-batch has its own statistics)."""
    plain = _model(tiny_encoder, tiny_contrastive, graph).eval()
    grouped = _model(tiny_encoder, tiny_contrastive, graph, shuffle_bn_groups=2).eval()
    grouped.load_state_dict(plain.state_dict())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for a, b in zip(plain(*batch), grouped(*batch, g), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        grouped.train()
        plain.train()
        assert not torch.allclose(plain(*batch).gcn_key, grouped(*batch, g).gcn_key)


def test_features_which(tiny_encoder, tiny_contrastive, graph, batch) -> None:
    own = _model(dataclasses.replace(tiny_encoder, mlp_shared_backbone=False), tiny_contrastive, graph).eval()
    x = batch[0]
    torch.testing.assert_close(own.features(x, "gcn"), own.query.f.features(x))
    torch.testing.assert_close(own.features(x, "both")[..., 16:], own.features(x, "mlp"))


def test_queue_size_must_hold_the_batch(tiny_encoder, graph, batch) -> None:
    model = _model(tiny_encoder, ContrastiveConfig(queue_size=3), graph)
    with pytest.raises(ValueError, match="queue size"):
        model.enqueue(model(*batch))
