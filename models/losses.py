"""The contrastive objectives as pure functions, computed in log space.

All embeddings are L2-normalised rows. Letters: N batch, K bank size, C embedding dimension.

CrossMoCo (Eqs. 3-5), for one sample with queries q = f(x1), r = h(x1) and keys k = f_key(x2),
l = h_key(x2):

    L_pos = alpha exp(q.l / tau) + beta exp(r.k / tau)                         (Eq. 3)
    L_neg = lam sum_{n in N} exp(q.n / tau) + phi sum_{n in N*} exp(r.n / tau)  (Eq. 4)
    L     = -log(L_pos / L_neg)                                                 (Eq. 5)

with N the bank of ST-MLP keys l and N* the bank of ST-GCN keys k. ``form="paper"`` is Eq. (5) as
printed: L_pos is *not* in the denominator (unlike MoCo's Eq. 2). ``form="infonce"`` puts it back,
``-log(L_pos / (L_pos + L_neg))``, which is bounded below by 0. Both are evaluated as
``logsumexp(log w + logits)`` so that exp(1/0.07) over 16384 negatives never overflows; a weight of
0 contributes ``log 0 = -inf`` and drops its term.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from models.config import LossForm


class ContrastiveLoss(NamedTuple):
    """A batch-mean loss and its per-sample log terms (``loss = mean(log_den - log_pos)``)."""

    loss: Tensor  # scalar, the batch mean
    log_pos: Tensor  # (N,) log L_pos
    log_neg: Tensor  # (N,) log L_neg


def _log_weighted_sum(terms: Sequence[tuple[float, Tensor]]) -> Tensor:
    """``log sum_i w_i sum_j exp(s_ij)`` over terms ``(w_i, s_i)`` with ``s_i`` ``(N,)`` or ``(N, K)``."""
    cols = [s.unsqueeze(1) if s.dim() == 1 else s for w, s in terms if w > 0]
    logw = [math.log(w) for w, _ in terms if w > 0]
    if not cols:
        raise ValueError("every weight of a contrastive term is 0: the loss is undefined")
    parts = [torch.logsumexp(c, dim=1) + lw for c, lw in zip(cols, logw, strict=True)]  # each (N,)
    return torch.logsumexp(torch.stack(parts, dim=1), dim=1)  # (N,)


def weighted_contrastive_loss(
    pos: Sequence[tuple[float, Tensor]], neg: Sequence[tuple[float, Tensor]], *, form: LossForm
) -> ContrastiveLoss:
    """``-log(L_pos / L_neg)`` (paper) or ``-log(L_pos / (L_pos + L_neg))`` (infonce), batch mean.

    ``pos``: pairs ``(weight, logits (N,))``; ``neg``: pairs ``(weight, logits (N, K_i))``; logits
    are similarities already divided by tau.
    """
    log_pos = _log_weighted_sum(pos)
    log_neg = _log_weighted_sum(neg)
    if form == "paper":
        log_den = log_neg
    elif form == "infonce":
        log_den = torch.logaddexp(log_pos, log_neg)
    else:
        raise ValueError(f"unknown loss form {form!r}; expected 'paper' or 'infonce'")
    return ContrastiveLoss((log_den - log_pos).mean(), log_pos, log_neg)


def _pos(a: Tensor, b: Tensor, tau: float) -> Tensor:
    return (a * b).sum(dim=1) / tau  # (N,)


def _neg(a: Tensor, bank: Tensor, tau: float) -> Tensor:
    return a @ bank.detach().t() / tau  # (N, K)


def crossmoco_loss(
    q: Tensor,
    k: Tensor,
    r: Tensor,
    l: Tensor,  # noqa: E741 (the paper's name)
    bank_of_mlp_keys: Tensor,
    bank_of_gcn_keys: Tensor,
    *,
    tau: float,
    alpha: float,
    beta: float,
    lam: float,
    phi: float,
    form: LossForm = "paper",
    extra_bank: Tensor | None = None,
) -> ContrastiveLoss:
    """CrossMoCo's Eqs. (3)-(5), batch mean.

    ``extra_bank`` is the third bank of the 3-bank variant (Table III): it adds
    ``lam sum exp(q.n / tau) + phi sum exp(r.n / tau)`` over its keys to L_neg.

    Shape: ``q, k, r, l`` ``(N, C)``; banks ``(K, C)``; returns a scalar loss and ``(N,)`` terms.
    """
    neg = [(lam, _neg(q, bank_of_mlp_keys, tau)), (phi, _neg(r, bank_of_gcn_keys, tau))]
    if extra_bank is not None:
        neg += [(lam, _neg(q, extra_bank, tau)), (phi, _neg(r, extra_bank, tau))]
    pos = [(alpha, _pos(q, l.detach(), tau)), (beta, _pos(r, k.detach(), tau))]
    return weighted_contrastive_loss(pos, neg, form=form)


def moco_loss(q: Tensor, k: Tensor, *banks: Tensor, tau: float, form: LossForm = "infonce") -> ContrastiveLoss:
    """MoCo's Eq. (2): ``-log(exp(q.k/tau) / (exp(q.k/tau) + sum_n exp(q.n/tau)))``, batch mean.

    Several banks are one pool of negatives. ``form="paper"`` drops the positive from the
    denominator, as Eq. (5) does, so single-encoder variants compare with the crossed one.

    Shape: ``q, k`` ``(N, C)``; each bank ``(K_i, C)``.
    """
    if not banks:
        raise ValueError("moco_loss needs at least one bank of negatives")
    neg = [(1.0, _neg(q, bank, tau)) for bank in banks]
    return weighted_contrastive_loss([(1.0, _pos(q, k.detach(), tau))], neg, form=form)
