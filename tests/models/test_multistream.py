"""Eqs. (9)-(10): one model per stream, L = a L_joint + b L_motion + c L_bone; feature combination."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.config import ContrastiveConfig
from models.multistream import MultiStream, MultiStreamOutput
from models.registry import build_model


class _FixedLoss(nn.Module):
    """A stand-in stream whose loss is a given number and whose feature is a constant row."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = torch.tensor(value)

    def forward(self, x1, x2):
        return x1

    def loss(self, out, crossed):
        return self.value

    def features(self, x, which="both"):
        return torch.full((x.shape[0], 2), float(self.value))

    def feature_dim(self, which="both"):
        return 2


def test_eq10_weighted_sum_by_hand() -> None:
    """L_joint = 2, L_motion = 4, L_bone = 3 (Eq. 9) with a = 0.5, b = 0.25, c = 1:
    L = 0.5 * 2 + 0.25 * 4 + 1 * 3 = 1 + 1 + 3 = 5 (Eq. 10)."""
    values = iter([2.0, 4.0, 3.0])
    model = MultiStream(lambda: _FixedLoss(next(values)), {"joint": 0.5, "motion": 0.25, "bone": 1.0})
    x = {s: torch.zeros(1) for s in ("joint", "motion", "bone")}
    total = model.loss(model(x, x), crossed=True)
    assert float(total.loss) == 5.0
    assert (float(total.joint), float(total.motion), float(total.bone)) == (2.0, 4.0, 3.0)


def test_features_concat_sum_and_single_streams() -> None:
    values = iter([1.0, 2.0, 3.0])
    model = MultiStream(lambda: _FixedLoss(next(values)), {"joint": 1, "motion": 1, "bone": 1})
    x = {s: torch.zeros(4) for s in ("joint", "motion", "bone")}
    assert model.features(x).tolist()[0] == [1, 1, 2, 2, 3, 3] and model.feature_dim() == 6
    assert model.features(x, combine="sum").tolist()[0] == [6, 6] and model.feature_dim(combine="sum") == 2
    assert model.features(x, streams=["motion"]).tolist()[0] == [2, 2]
    with pytest.raises(ValueError, match="combine"):
        model.features(x, combine="max")


def test_zero_weight_streams_are_not_built_and_not_needed(tiny_encoder, layout, batch) -> None:
    con = ContrastiveConfig(queue_size=32, weight_joint=1.0, weight_motion=0.0, weight_bone=0.0)
    model = build_model(tiny_encoder, con, **layout)
    assert list(model.streams) == ["joint"]
    out = model({"joint": batch[0]}, {"joint": batch[1]})
    assert isinstance(out, MultiStreamOutput) and out.motion is None and out.bone is None
    loss = model.loss(out, crossed=True)
    torch.testing.assert_close(loss.loss, model.streams["joint"].loss(out.joint, True))
    with pytest.raises(ValueError, match="not built"):
        model.features({"joint": batch[0]}, streams=["bone"])


def test_real_streams_each_contribute_their_own_loss(tiny_encoder, layout, batch) -> None:
    con = ContrastiveConfig(queue_size=32, weight_joint=1.0, weight_motion=0.5, weight_bone=0.25)
    model = build_model(tiny_encoder, con, **layout)
    x1 = {"joint": batch[0], "motion": batch[0].diff(dim=2, append=batch[0][:, :, -1:]), "bone": batch[0] * 0.5}
    out = model(x1, x1)
    total = model.loss(out, crossed=True)
    expected = 1.0 * total.joint + 0.5 * total.motion + 0.25 * total.bone
    torch.testing.assert_close(total.loss, expected)
    model.enqueue(out)
    assert model.features(x1, which="gcn").shape == (4, 48)
