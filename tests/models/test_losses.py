"""Eqs. (3)-(5) and MoCo's Eq. (2) against hand arithmetic, closed forms and a naive loop."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from crossmoco.models.losses import chance_loss, crossmoco_loss, moco_loss, weighted_streams

E = math.e

# The hand case: C = 2, N = 1, tau = 1, K = 2.
Q, R = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
K_, L_ = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
BANK_MLP = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # N, fed with ST-MLP keys
BANK_GCN = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # N*, fed with ST-GCN keys
W = {"alpha": 0.5, "beta": 0.25, "lam": 0.5, "phi": 0.25}


def _hand(form: str = "paper"):
    return crossmoco_loss(Q, K_, R, L_, BANK_MLP, BANK_GCN, tau=1.0, form=form, **W)


def test_eq3_positive_term_by_hand() -> None:
    """q.l = (1,0).(1,0) = 1 and r.k = (0,1).(0,1) = 1, tau = 1:
    L_pos = 0.5 e^1 + 0.25 e^1 = 0.75 e = 2.0387."""
    torch.testing.assert_close(_hand().log_pos, torch.tensor([math.log(0.75 * E)]))


def test_eq4_negative_term_by_hand() -> None:
    """q against N (ST-MLP keys): q.n = 1, 0 -> sum = e + 1; r against N*: r.n = -1, 0 -> e^-1 + 1.
    L_neg = 0.5 (e + 1) + 0.25 (e^-1 + 1) = 1.8591 + 0.3420 = 2.2011."""
    l_neg = 0.5 * (E + 1) + 0.25 * (1 / E + 1)
    torch.testing.assert_close(_hand().log_neg, torch.tensor([math.log(l_neg)]))


def test_eq5_loss_by_hand_paper_and_infonce() -> None:
    """Paper: L = -log(L_pos / L_neg) = -log(2.0387 / 2.2011) = 0.0766.
    InfoNCE: L = -log(L_pos / (L_pos + L_neg)) = -log(2.0387 / 4.2398) = 0.7322."""
    l_pos, l_neg = 0.75 * E, 0.5 * (E + 1) + 0.25 * (1 / E + 1)
    torch.testing.assert_close(_hand().loss, torch.tensor(-math.log(l_pos / l_neg)))
    torch.testing.assert_close(_hand("infonce").loss, torch.tensor(-math.log(l_pos / (l_pos + l_neg))))
    assert abs(float(_hand().loss) - 0.0766) < 1e-3


def test_weights_of_zero_drop_their_terms() -> None:
    """beta = phi = 0 leaves MoCo-like terms of q only: -log(e / (e + 1))."""
    out = crossmoco_loss(Q, K_, R, L_, BANK_MLP, BANK_GCN, tau=1.0, alpha=1, beta=0, lam=1, phi=0)
    torch.testing.assert_close(out.loss, torch.tensor(-math.log(E / (E + 1))))
    with pytest.raises(ValueError, match="weight"):
        crossmoco_loss(Q, K_, R, L_, BANK_MLP, BANK_GCN, tau=1.0, alpha=0, beta=0, lam=1, phi=1)


@pytest.mark.parametrize("tau", [1.0, 0.07, 0.01])
def test_all_embeddings_equal_closed_form(tau: float) -> None:
    """Every similarity is 1: L_pos = (a + b) e^{1/tau}, L_neg = (lam + phi) K e^{1/tau}.
    Paper form: log K for equal weights; InfoNCE: -log(1 / (K + 1)). tau = 0.01 overflows exp in
    fp32 (e^100), so this also shows the log-space evaluation."""
    k = 16384
    u = F.normalize(torch.ones(3, 8), dim=1)
    bank = F.normalize(torch.ones(k, 8), dim=1)
    w = {"alpha": 0.5, "beta": 0.5, "lam": 0.5, "phi": 0.5}
    paper = crossmoco_loss(u, u, u, u, bank, bank, tau=tau, **w).loss
    infonce = crossmoco_loss(u, u, u, u, bank, bank, tau=tau, form="infonce", **w).loss
    torch.testing.assert_close(paper, torch.tensor(math.log(k)))
    torch.testing.assert_close(infonce, torch.tensor(-math.log(1 / (k + 1))))
    torch.testing.assert_close(moco_loss(u, u, bank, tau=tau).loss, torch.tensor(math.log(k + 1)))


def test_orthogonal_negatives_closed_form() -> None:
    """q.n = r.n = 0 for every negative, positives equal: L_neg = (lam + phi) K, L_pos = (a + b) e^{1/tau}.
    Equal weights 0.5: L = log K - 1/tau."""
    tau, k = 0.07, 6
    u = torch.tensor([[1.0, 0.0]])
    bank = torch.tensor([[0.0, 1.0]]).repeat(k, 1)
    out = crossmoco_loss(u, u, u, u, bank, bank, tau=tau, alpha=0.5, beta=0.5, lam=0.5, phi=0.5)
    torch.testing.assert_close(out.loss, torch.tensor(math.log(k) - 1 / tau))


def _dot(a, b) -> float:
    return sum(float(x) * float(y) for x, y in zip(a, b, strict=True))


def _naive(q, k, r, l, n1, n2, tau, alpha, beta, lam, phi, form):  # noqa: E741
    """Eqs. (3)-(5) sample by sample in float64 Python arithmetic."""
    total = 0.0
    dot = _dot
    for i in range(q.shape[0]):
        pos = alpha * math.exp(dot(q[i], l[i]) / tau) + beta * math.exp(dot(r[i], k[i]) / tau)
        neg = lam * sum(math.exp(dot(q[i], n) / tau) for n in n1)
        neg += phi * sum(math.exp(dot(r[i], n) / tau) for n in n2)
        total += -math.log(pos / (neg + (pos if form == "infonce" else 0.0)))
    return total / q.shape[0]


@pytest.mark.parametrize("form", ["paper", "infonce"])
def test_matches_naive_loop(form: str) -> None:
    g = torch.Generator().manual_seed(1)
    q, k, r, l, n1, n2 = (F.normalize(torch.randn(s, 5, generator=g), dim=1) for s in (3, 3, 3, 3, 7, 9))  # noqa: E741
    w = {"alpha": 0.3, "beta": 0.6, "lam": 0.8, "phi": 0.2}
    got = crossmoco_loss(q, k, r, l, n1, n2, tau=0.2, form=form, **w).loss
    assert float(got) == pytest.approx(_naive(q, k, r, l, n1, n2, 0.2, form=form, **w), rel=1e-5)


def test_moco_loss_matches_naive_and_pools_banks() -> None:
    """Two banks are one pool: the same as one concatenated bank."""
    g = torch.Generator().manual_seed(2)
    q, k, b1, b2 = (F.normalize(torch.randn(s, 4, generator=g), dim=1) for s in (3, 3, 5, 4))
    pooled = moco_loss(q, k, b1, b2, tau=0.1).loss
    torch.testing.assert_close(pooled, moco_loss(q, k, torch.cat([b1, b2]), tau=0.1).loss)
    ref = torch.nn.functional.cross_entropy(
        torch.cat([(q * k).sum(1, keepdim=True), q @ torch.cat([b1, b2]).t()], 1) / 0.1,
        torch.zeros(3, dtype=torch.long),
    )  # MoCo's implementation of Eq. (2)
    torch.testing.assert_close(pooled, ref)


def test_stable_at_paper_scale_with_gradients() -> None:
    """tau = 0.07, K = 16384: finite loss and gradients; no gradient reaches keys or banks."""
    g = torch.Generator().manual_seed(3)
    q, r = (F.normalize(torch.randn(8, 128, generator=g), dim=1).requires_grad_() for _ in range(2))
    k, l = (F.normalize(torch.randn(8, 128, generator=g), dim=1).requires_grad_() for _ in range(2))  # noqa: E741
    banks = [F.normalize(torch.randn(16384, 128, generator=g), dim=1).requires_grad_() for _ in range(2)]
    out = crossmoco_loss(q, k, r, l, *banks, tau=0.07, **W)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(q.grad).all() and torch.isfinite(r.grad).all()
    assert k.grad is None and l.grad is None and all(b.grad is None for b in banks)
    exact = crossmoco_loss(*(t.detach().double() for t in (q, k, r, l, *banks)), tau=0.07, **W)
    torch.testing.assert_close(out.loss.detach().double(), exact.loss, rtol=1e-5, atol=1e-5)  # float32 loses nothing


def test_leading_stream_axis_gives_one_loss_per_stream() -> None:
    """A stacked (S, N, C) call equals S separate calls."""
    g = torch.Generator().manual_seed(4)
    q, k, r, l = (F.normalize(torch.randn(3, 5, 4, generator=g), dim=-1) for _ in range(4))  # noqa: E741
    n1, n2 = (F.normalize(torch.randn(3, 7, 4, generator=g), dim=-1) for _ in range(2))
    stacked = crossmoco_loss(q, k, r, l, n1, n2, tau=0.2, **W).loss
    assert stacked.shape == (3,)
    for s in range(3):
        torch.testing.assert_close(stacked[s], crossmoco_loss(q[s], k[s], r[s], l[s], n1[s], n2[s], tau=0.2, **W).loss)
    torch.testing.assert_close(moco_loss(q, k, n1, tau=0.2).loss[1], moco_loss(q[1], k[1], n1[1], tau=0.2).loss)


def test_several_banks_per_query() -> None:
    """Table III's 3-bank plan: q contrasts with N and the fused bank, each weighted lam:
    the same as one bank holding both."""
    g = torch.Generator().manual_seed(5)
    q, k, r, l, a, b, c = (F.normalize(torch.randn(s, 4, generator=g), dim=1) for s in (2, 2, 2, 2, 3, 5, 4))  # noqa: E741
    two = crossmoco_loss(q, k, r, l, [a, c], [b, c], tau=0.3, **W).loss
    one = crossmoco_loss(q, k, r, l, torch.cat([a, c]), torch.cat([b, c]), tau=0.3, **W).loss
    torch.testing.assert_close(two, one)


def test_chance_level_is_the_loss_of_equal_similarities() -> None:
    """Every similarity 0.3: the loss equals chance_loss for both forms and MoCo (log(K + 1))."""
    k = 10
    u = torch.tensor([[1.0, 0.0]])
    v = torch.tensor([[0.3, (1 - 0.09) ** 0.5]])
    bank = v.repeat(k, 1)
    for form in ("paper", "infonce"):
        got = crossmoco_loss(u, v, u, v, bank, bank, tau=0.5, form=form, **W).loss
        ref = chance_loss([W["alpha"], W["beta"]], [(W["lam"], k), (W["phi"], k)], form)
        assert float(got) == pytest.approx(ref, rel=1e-5)
    assert float(moco_loss(u, v, bank, tau=0.5).loss) == pytest.approx(chance_loss([1.0], [(1.0, k)], "infonce"))
    assert chance_loss([1.0], [(1.0, 16384)], "infonce") == pytest.approx(math.log(16385))


def test_eq10_weighted_sum_by_hand() -> None:
    """L_joint = 2, L_motion = 4, L_bone = 3 (Eq. 9) with a = 0.5, b = 0.25, c = 1:
    L = 0.5 * 2 + 0.25 * 4 + 1 * 3 = 1 + 1 + 3 = 5 (Eq. 10)."""
    total = weighted_streams(torch.tensor([2.0, 4.0, 3.0]), torch.tensor([0.5, 0.25, 1.0]))
    assert float(total) == 5.0
