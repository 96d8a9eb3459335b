"""SkeletonCLR and the supervised ST-GCN, built from the same blocks."""

from __future__ import annotations

import torch

from models.baselines import SkeletonCLR
from models.config import ContrastiveConfig
from models.losses import moco_loss
from models.registry import build_classifier, build_model


def test_skeletonclr_is_moco_with_a_projector_and_one_bank(tiny_encoder, tiny_contrastive, layout, batch) -> None:
    model = SkeletonCLR(tiny_encoder, tiny_contrastive, **layout)
    proj = model.query_encoder.fc
    assert [type(m).__name__ for m in proj] == ["Linear", "ReLU", "Linear"]
    out = model(*batch)
    loss = model.loss(out)
    torch.testing.assert_close(loss, moco_loss(out.query, out.key, model.bank.keys, tau=tiny_contrastive.tau).loss)
    loss.backward()
    assert all(p.grad is not None for p in model.query_encoder.parameters())
    assert all(p.grad is None for p in model.key_encoder.parameters())
    model.enqueue(out)
    torch.testing.assert_close(model.bank.oldest_first()[-4:], out.key)
    assert model.features(batch[0]).shape == (4, 16)


def test_skeletonclr_through_the_factory(tiny_encoder, layout, batch) -> None:
    con = ContrastiveConfig(queue_size=32, weight_motion=0.0, weight_bone=0.0)
    model = build_model(tiny_encoder, con, **layout, method="skeletonclr")
    assert isinstance(model.streams["joint"], SkeletonCLR)


def test_supervised_classifier_gives_logits(tiny_encoder, layout, batch) -> None:
    clf = build_classifier(tiny_encoder, 5, **layout)
    logits = clf(batch[0])
    assert logits.shape == (4, 5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None for p in clf.parameters())
