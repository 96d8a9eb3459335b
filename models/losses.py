"""The contrastive objectives as pure functions, computed in log space.

All embeddings are L2-normalised rows. Letters: N batch, K bank size, C embedding dimension; any
leading dimensions (the stream axis S of a multi-stream model) are carried through, so each
function returns one batch-mean loss per leading index (a scalar for plain ``(N, C)`` inputs).

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

Three streams (Eqs. 9-10): ``L = a L_joint + b L_motion + c L_bone`` is ``weighted_streams``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from crossmoco.models.config import LossForm

Banks = Tensor | Sequence[Tensor]


class ContrastiveLoss(NamedTuple):
    """Batch-mean losses and their per-sample log terms (``loss = mean(log_den - log_pos)``)."""

    loss: Tensor  # (...,) one batch mean per leading index; a scalar for (N, C) inputs
    log_pos: Tensor  # (..., N) log L_pos
    log_neg: Tensor  # (..., N) log L_neg


def _log_weighted_sum(terms: Sequence[tuple[float, Tensor]]) -> Tensor:
    """``log sum_i w_i sum_j exp(s_ij)`` over terms ``(w_i, s_i)``, each ``s_i`` ``(..., N, K_i)``."""
    kept = [(w, s) for w, s in terms if w > 0]
    if not kept:
        raise ValueError("every weight of a contrastive term is 0: the loss is undefined")
    parts = [torch.logsumexp(s, dim=-1) + math.log(w) for w, s in kept]  # each (..., N)
    return torch.logsumexp(torch.stack(parts, dim=-1), dim=-1)  # (..., N)


def weighted_contrastive_loss(
    pos: Sequence[tuple[float, Tensor]], neg: Sequence[tuple[float, Tensor]], *, form: LossForm
) -> ContrastiveLoss:
    """``-log(L_pos / L_neg)`` (paper) or ``-log(L_pos / (L_pos + L_neg))`` (infonce), batch mean.

    ``pos``: pairs ``(weight, logits (..., N))``; ``neg``: pairs ``(weight, logits (..., N, K_i))``;
    logits are similarities already divided by tau.
    """
    log_pos = _log_weighted_sum([(w, s.unsqueeze(-1)) for w, s in pos])
    log_neg = _log_weighted_sum(neg)
    if form == "paper":
        log_den = log_neg
    elif form == "infonce":
        log_den = torch.logaddexp(log_pos, log_neg)
    else:
        raise ValueError(f"unknown loss form {form!r}; expected 'paper' or 'infonce'")
    return ContrastiveLoss((log_den - log_pos).mean(dim=-1), log_pos, log_neg)


def _pos(a: Tensor, b: Tensor, tau: float) -> Tensor:
    return (a * b.detach()).sum(dim=-1) / tau  # (..., N)


def _neg(a: Tensor, bank: Tensor, tau: float) -> Tensor:
    return a @ bank.detach().transpose(-1, -2) / tau  # (..., N, K)


def _as_list(banks: Banks) -> list[Tensor]:
    return [banks] if isinstance(banks, Tensor) else list(banks)


def crossmoco_loss(
    q: Tensor, k: Tensor, r: Tensor, l: Tensor,  # noqa: E741 (the paper's name)
    banks_for_q: Banks, banks_for_r: Banks, *,
    tau: float, alpha: float, beta: float, lam: float, phi: float, form: LossForm = "paper",
) -> ContrastiveLoss:  # fmt: skip
    """CrossMoCo's Eqs. (3)-(5), batch mean.

    ``banks_for_q`` is N (the bank of ST-MLP keys), ``banks_for_r`` is N* (ST-GCN keys); the 1- and
    3-bank variants of Table III pass their own banks (each query contrasts with every bank given,
    weighted lam for q and phi for r).

    Shape: ``q, k, r, l`` ``(..., N, C)``; banks ``(..., K, C)``; loss ``(...)``.
    """
    neg = [(lam, _neg(q, b, tau)) for b in _as_list(banks_for_q)]
    neg += [(phi, _neg(r, b, tau)) for b in _as_list(banks_for_r)]
    pos = [(alpha, _pos(q, l, tau)), (beta, _pos(r, k, tau))]
    return weighted_contrastive_loss(pos, neg, form=form)


def moco_loss(q: Tensor, k: Tensor, *banks: Tensor, tau: float, form: LossForm = "infonce") -> ContrastiveLoss:
    """MoCo's Eq. (2): ``-log(exp(q.k/tau) / (exp(q.k/tau) + sum_n exp(q.n/tau)))``, batch mean.

    Several banks are one pool of negatives. ``form="paper"`` drops the positive from the
    denominator, as Eq. (5) does, so single-encoder variants compare with the crossed one.

    Shape: ``q, k`` ``(..., N, C)``; each bank ``(..., K_i, C)``; loss ``(...)``.
    """
    if not banks:
        raise ValueError("moco_loss needs at least one bank of negatives")
    neg = [(1.0, _neg(q, bank, tau)) for bank in banks]
    return weighted_contrastive_loss([(1.0, _pos(q, k, tau))], neg, form=form)


def chance_loss(pos_weights: Sequence[float], neg_terms: Sequence[tuple[float, int]], form: LossForm) -> float:
    """The loss when every similarity is equal (nothing learned): the learning-health reference.

    ``pos_weights`` are the positive terms' weights, ``neg_terms`` ``(weight, bank size)`` pairs:
    paper ``log(sum w_n K_n / sum w_p)``; infonce ``log(1 + that)``. MoCo: ``log(K + 1)``.
    """
    ratio = sum(w * size for w, size in neg_terms) / sum(pos_weights)
    return math.log(ratio) if form == "paper" else math.log1p(ratio)


def weighted_streams(losses: Tensor, weights: Tensor) -> Tensor:
    """Eq. (10): ``L = a L_joint + b L_motion + c L_bone`` over the streams that are built.

    Shape: ``losses`` ``(S,)`` (Eq. 9: one loss per stream), ``weights`` ``(S,)`` -> scalar.
    """
    return (losses * weights.to(losses)).sum()
