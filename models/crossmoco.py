"""CrossMoCo (§III-B, Fig. 1b, Algorithm 1): the paper's method, and only it.

Two query encoders, f = ST-GCN and h = ST-MLP (an MLP head in series on an ST-GCN), their momentum
copies, and negative banks fed by role. One training step reads like Algorithm 1::

    model.momentum_update(m)                  # Eq. (1) on the key encoders
    out = model(x1, x2, generator)            # q1, k1 = f(x1), f_key(x2); r1, l1 = h(x1), h_key(x2)
    loss = model.loss(out, crossed)           # Eqs. (3)-(5) per stream (Eq. 9)
    loss.backward(); optimizer.step()
    model.enqueue(out)                        # l1 -> bank N, k1 -> bank N*

(Algorithm 1 updates theta_k after the optimiser step; updating it before the next forward, as
MoCo's code does, is the same sequence of states.) ``crossed=False`` trains the same model
uncrossed: each encoder against its own key and own bank, two MoCo losses added. The paper
cross-trains only the last 150 of 300 epochs, and Table II's "uncrossed" row never crosses; the
schedule lives in ``pipeline/``.

Table III's bank counts are the small table ``BANK_PLANS``: which key feeds each bank, and which
banks each query contrasts with. 2 is the paper (N = ST-MLP keys for q, N* = ST-GCN keys for r);
1 is one bank fed by both encoders' keys; 3 adds a bank of fused keys ``normalize(k1 + l1)`` that
both queries contrast with (the paper does not say what its third bank holds: our definition,
which adds negatives without duplicating the other two).

Whether ST-MLP owns its ST-GCN or is the MLP on top of f (``h = MLP o f``) is a config choice
(``EncoderConfig.mlp_shared_backbone``, see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmoco.models.config import ContrastiveConfig
from crossmoco.models.heads import Encoder
from crossmoco.models.losses import chance_loss, crossmoco_loss, moco_loss
from crossmoco.models.momentum import key_copy, momentum_update_
from crossmoco.models.queue import NegativeQueue
from crossmoco.models.shuffle_bn import encode_in_groups

FeatureKind = Literal["gcn", "mlp", "both"]
Feed = Callable[[Tensor, Tensor], Tensor]  # (k1, l1) -> the keys one bank receives, (B, S, D)


class BankPlan(NamedTuple):
    """Bank i is fed ``feeds[i](k1, l1)``; each pair lists the banks of (q1, r1)."""

    feeds: tuple[Feed, ...]
    crossed: tuple[tuple[int, ...], tuple[int, ...]]
    uncrossed: tuple[tuple[int, ...], tuple[int, ...]]


def _gcn_keys(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
    return k


def _mlp_keys(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
    return l


def _all_keys(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
    return torch.cat([k, l])  # 2B keys per step


def _fused_keys(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
    return F.normalize(k + l, dim=-1)


BANK_PLANS: dict[int, BankPlan] = {
    1: BankPlan((_all_keys,), crossed=((0,), (0,)), uncrossed=((0,), (0,))),
    2: BankPlan((_mlp_keys, _gcn_keys), crossed=((0,), (1,)), uncrossed=((1,), (0,))),  # N, N*
    3: BankPlan((_mlp_keys, _gcn_keys, _fused_keys), crossed=((0, 2), (1, 2)), uncrossed=((1, 2), (0, 2))),
}


class CrossMoCoOutput(NamedTuple):
    """L2-normalised embeddings of one step, ``(N, S, D)`` each."""

    gcn_query: Tensor  # q1 = f(x1)
    gcn_key: Tensor  # k1 = f_key(x2), no gradient
    mlp_query: Tensor  # r1 = h(x1)
    mlp_key: Tensor  # l1 = h_key(x2), no gradient


class CrossEncoders(nn.Module):
    """f (ST-GCN + linear projection) and h = head o (f, or an ST-GCN encoder of its own)."""

    def __init__(self, f: Encoder, head: nn.Module, h_base: Encoder | None = None) -> None:
        super().__init__()
        self.f, self.head, self.h_base = f, head, h_base

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(q, r), normalised; one backbone pass when h sits on f. Shape: -> 2 x ``(N, S, D)``."""
        z = self.f(x)
        r = self.head(z if self.h_base is None else self.h_base(x))
        return F.normalize(z, dim=-1), F.normalize(r, dim=-1)


class CrossMoCo(nn.Module):
    """Shape: ``x1, x2`` ``(N, S, C, T, V, M)``."""

    def __init__(self, encoders: CrossEncoders, cfg: ContrastiveConfig, *, dim: int, streams: int) -> None:
        super().__init__()
        self.cfg, self.plan = cfg, BANK_PLANS[cfg.num_banks]
        self.query, self.key = encoders, key_copy(encoders)  # one copy keeps a shared backbone shared
        self.banks = nn.ModuleList(NegativeQueue(cfg.queue_size, dim, streams) for _ in self.plan.feeds)

    @property
    def queues(self) -> list[NegativeQueue]:
        """The negative banks, typed (an ``nn.ModuleList`` yields plain modules)."""
        return [cast(NegativeQueue, bank) for bank in self.banks]

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        """Eq. (1), MoCo's form: theta_k <- m theta_k + (1 - m) theta_q (see models/momentum.py)."""
        momentum_update_(self.key.parameters(), self.query.parameters(), m)

    def forward(self, x1: Tensor, x2: Tensor, generator: torch.Generator | None = None) -> CrossMoCoOutput:
        groups = self.cfg.shuffle_bn_groups
        q, r = encode_in_groups(self.query, x1, groups)
        with torch.no_grad():
            k, l = encode_in_groups(self.key, x2, groups, generator)  # noqa: E741 (the paper's name)
        return CrossMoCoOutput(q, k, r, l)

    def loss(self, out: CrossMoCoOutput, crossed: bool) -> Tensor:
        """Eqs. (3)-(5) per stream when ``crossed``, else two MoCo losses added. Shape: ``(S,)``."""
        c = self.cfg
        with torch.autocast(device_type=out.gcn_query.device.type, enabled=False):  # logits in fp32
            q, k, r, l = (t.float().transpose(0, 1) for t in out)  # noqa: E741  each (S, N, D)
            keys = [bank.keys for bank in self.queues]  # one pass over the banks per step
            for_q, for_r = ([keys[i] for i in side] for side in self._sides(crossed))
            if not crossed:
                return moco_loss(q, k, *for_q, tau=c.tau, form=c.form).loss + \
                    moco_loss(r, l, *for_r, tau=c.tau, form=c.form).loss
            return crossmoco_loss(q, k, r, l, for_q, for_r, tau=c.tau, alpha=c.alpha, beta=c.beta, lam=c.lam,
                                  phi=c.phi, form=c.form).loss  # fmt: skip

    def chance(self, crossed: bool) -> float:
        """The per-stream loss when nothing is learned (all similarities equal)."""
        c, size = self.cfg, self.cfg.queue_size
        for_q, for_r = self._sides(crossed)
        if not crossed:
            return sum(chance_loss([1.0], [(1.0, size * len(side))], c.form) for side in (for_q, for_r))
        negs = [(c.lam, size)] * len(for_q) + [(c.phi, size)] * len(for_r)
        return chance_loss([c.alpha, c.beta], negs, c.form)

    @torch.no_grad()
    def enqueue(self, out: CrossMoCoOutput) -> None:
        """Feed each bank its keys (after the loss: the current keys are positives, not negatives)."""
        for bank, feed in zip(self.queues, self.plan.feeds, strict=True):
            bank.enqueue(feed(out.gcn_key, out.mlp_key))

    def features(self, x: Tensor, which: FeatureKind = "both") -> Tensor:
        """Pooled query-encoder features for the evaluation protocols: f's, h's backbone's, or both
        concatenated (just f's when h sits on f). Shape: ``(N, S, C, T, V, M)`` -> ``(N, S, F)``."""
        enc = self.query
        own = enc.h_base is not None
        if which == "gcn" or (which == "both" and not own) or (which == "mlp" and not own):
            return enc.f.features(x)
        if which == "mlp":
            return enc.h_base.features(x)  # type: ignore[union-attr]
        return torch.cat([enc.f.features(x), enc.h_base.features(x)], dim=-1)  # type: ignore[union-attr]

    def _sides(self, crossed: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return self.plan.crossed if crossed else self.plan.uncrossed
