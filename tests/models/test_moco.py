"""The generic momentum contrast: Table II's single-encoder rows and SkeletonCLR, and the supervised
classifier control."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from crossmoco.models.classifier import Classifier
from crossmoco.models.losses import moco_loss
from crossmoco.models.moco import MoCo
from crossmoco.models.registry import build_model

ROWS = [("crossmoco", "gcn"), ("crossmoco", "mlp"), ("skeletonclr", "crossed")]


@pytest.mark.parametrize(("method", "encoders"), ROWS)
def test_single_encoder_models(tiny_encoder, tiny_contrastive, graph, batch, method, encoders) -> None:
    con = dataclasses.replace(tiny_contrastive, encoders=encoders, form="infonce")
    model = build_model(method, tiny_encoder, con, graph, streams=2)
    assert isinstance(model, MoCo)
    out = model(*batch)
    assert out.query.shape == out.key.shape == (4, 2, 16)
    loss = model.loss(out)
    ref = moco_loss(out.query[:, 1], out.key[:, 1], model.bank.keys[1], tau=con.tau, form="infonce").loss
    torch.testing.assert_close(loss[1], ref)
    loss.sum().backward()
    assert all(p.grad is not None for p in model.query_encoder.parameters())
    assert all(not p.requires_grad for p in model.key_encoder.parameters())
    model.enqueue(out)
    torch.testing.assert_close(model.bank.oldest_first()[:, -4:], out.key.transpose(0, 1))
    assert model.features(batch[0]).shape == (4, 2, 16)


def test_skeletonclr_projector_is_passed_in_not_swapped(tiny_encoder, tiny_contrastive, graph) -> None:
    model = build_model("skeletonclr", tiny_encoder, tiny_contrastive, graph, streams=1)
    names = [type(m).__name__ for m in model.query_encoder.projector]
    assert names == ["GroupedLinear", "ReLU", "GroupedLinear"]


def test_mlp_encoder_is_the_fig3_head_on_the_projection(tiny_encoder, tiny_contrastive, graph) -> None:
    con = dataclasses.replace(tiny_contrastive, encoders="mlp")
    model = build_model("crossmoco", tiny_encoder, con, graph, streams=1)
    linear, head = model.query_encoder.projector
    assert type(linear).__name__ == "GroupedLinear" and len(head) == tiny_encoder.mlp_layers


def test_random_control_is_crossmoco_at_its_seeded_init(tiny_encoder, tiny_contrastive, graph) -> None:
    torch.manual_seed(3)
    a = build_model("random", tiny_encoder, tiny_contrastive, graph, streams=2)
    torch.manual_seed(3)
    b = build_model("crossmoco", tiny_encoder, tiny_contrastive, graph, streams=2)
    assert type(a) is type(b)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_supervised_classifier_per_stream(tiny_encoder, tiny_contrastive, graph, batch) -> None:
    model = build_model("supervised", tiny_encoder, tiny_contrastive, graph, streams=2, num_classes=5)
    assert isinstance(model, Classifier)
    logits = model(batch[0])
    assert logits.shape == (4, 2, 5)
    labels = torch.tensor([0, 1, 2, 3])
    loss = model.loss(logits, labels)
    ref = torch.nn.functional.cross_entropy(logits[:, 1], labels)
    torch.testing.assert_close(loss[1], ref)
    torch.testing.assert_close(Classifier.scores(logits).sum(dim=1), torch.full((4,), 2.0))
    with pytest.raises(ValueError, match="num_classes"):
        build_model("supervised", tiny_encoder, tiny_contrastive, graph, streams=1)


def test_unknown_method_is_a_clear_error(tiny_encoder, tiny_contrastive, graph) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        build_model("simclr", tiny_encoder, tiny_contrastive, graph, streams=1)  # type: ignore[arg-type]
