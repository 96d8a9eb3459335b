"""CrossMoCo for one stream (§III-B, Algorithm 1), and its Table II-III variants.

One training step reads like Algorithm 1:

    model.momentum_update(m)                 # Eq. (1) on the key encoders
    out = model(x1, x2)                      # q1, k1 = f(x1), f_key(x2); r1, l1 = h(x1), h_key(x2)
    loss = model.loss(out, crossed=epoch >= cfg.cross_start_epoch)   # Eqs. (3)-(5)
    loss.backward(); optimizer.step()
    model.enqueue(out)                       # k1 -> bank_of_gcn_keys, l1 -> bank_of_mlp_keys

(Algorithm 1 updates theta_k after the optimiser step; updating it before the next forward, as
MoCo's code does, is the same sequence of states.)

Variants, all from ``ContrastiveConfig``:

* ``encoders``: ``gcn`` builds only f (ST-GCN) and trains it MoCo-style against its own keys;
  ``mlp`` only h (ST-MLP); ``uncrossed`` both, each against its own key and its own bank, losses
  added; ``crossed`` both with the crossed positives and banks of Eqs. (3)-(4). Single-encoder
  variants have one bank whatever ``num_banks`` says.
* ``crossed=False`` in ``loss`` trains a ``crossed`` model uncrossed (the paper cross-trains only
  the last 150 of 300 epochs); both banks keep being fed, so the switch needs no warm-up.
* ``num_banks`` (two-encoder variants): 1 = one bank fed by both encoders' keys (2B keys per step;
  both queries contrast with it); 2 = the paper, ``bank_of_mlp_keys`` (N, fed with l1) and
  ``bank_of_gcn_keys`` (N*, fed with k1); 3 = those two plus ``bank_of_fused_keys`` fed with the
  fused key ``normalize(k1 + l1)``, a third kind of negative that both queries contrast with,
  weighted by lambda and phi. The paper does not say what its third bank holds; this is our
  definition (it adds negatives without duplicating the other two banks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ContrastiveConfig, EncoderConfig
from models.losses import crossmoco_loss, moco_loss
from models.mlp import STMLP
from models.momentum import key_copy, momentum_update_
from models.queue import NegativeQueue
from models.stgcn import STGCN

FeatureKind = Literal["gcn", "mlp", "both"]


class CrossMoCoOutput(NamedTuple):
    """L2-normalised embeddings of one step, ``(N, C)`` each; ``None`` for an encoder not built."""

    gcn_query: Tensor | None  # q1 = f(x1)
    gcn_key: Tensor | None  # k1 = f_key(x2), no gradient
    mlp_query: Tensor | None  # r1 = h(x1)
    mlp_key: Tensor | None  # l1 = h_key(x2), no gradient


def _bank_names(encoders: str, num_banks: int) -> tuple[str, ...]:
    if encoders == "gcn":
        return ("bank_of_gcn_keys",)
    if encoders == "mlp":
        return ("bank_of_mlp_keys",)
    return {
        1: ("bank_of_all_keys",),
        2: ("bank_of_mlp_keys", "bank_of_gcn_keys"),
        3: ("bank_of_mlp_keys", "bank_of_gcn_keys", "bank_of_fused_keys"),
    }[num_banks]


class CrossMoCo(nn.Module):
    """Query encoders f (ST-GCN) and h (ST-MLP), their momentum copies and the negative banks.

    Shape: ``x1, x2`` ``(N, C, T, V, M)``.
    """

    def __init__(
        self,
        encoder_cfg: EncoderConfig,
        contrastive_cfg: ContrastiveConfig,
        *,
        num_joints: int,
        edges: Sequence[tuple[int, int]],
        center: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.cfg = contrastive_cfg
        self.shared_backbone = encoder_cfg.mlp_shared_backbone
        mode = contrastive_cfg.encoders

        def stgcn() -> STGCN:
            return STGCN(encoder_cfg, num_joints=num_joints, edges=edges, center=center, in_channels=in_channels)

        encoders: dict[str, nn.Module] = {}
        if mode != "mlp":
            encoders["gcn"] = stgcn()
        if mode != "gcn":
            backbone = encoders["gcn"] if self.shared_backbone and "gcn" in encoders else stgcn()
            encoders["mlp"] = STMLP(backbone, hidden=encoder_cfg.mlp_hidden, layers=encoder_cfg.mlp_layers)
        self.query_encoders = nn.ModuleDict(encoders)
        self.key_encoders = key_copy(self.query_encoders)  # one copy keeps a shared backbone shared
        names = _bank_names(mode, contrastive_cfg.num_banks)
        dim = encoder_cfg.embed_dim
        self.banks = nn.ModuleDict({n: NegativeQueue(contrastive_cfg.queue_size, dim) for n in names})

    # --- Algorithm 1 -------------------------------------------------------------------------

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        """Eq. (1), MoCo's form: theta_k <- m theta_k + (1 - m) theta_q (see models/momentum.py)."""
        momentum_update_(self.key_encoders.parameters(), self.query_encoders.parameters(), m)

    def forward(self, x1: Tensor, x2: Tensor) -> CrossMoCoOutput:
        q, r = self._embed(self.query_encoders, x1)
        with torch.no_grad():
            k, l = self._embed(self.key_encoders, x2)  # noqa: E741 (the paper's name)
        return CrossMoCoOutput(gcn_query=q, gcn_key=k, mlp_query=r, mlp_key=l)

    def loss(self, out: CrossMoCoOutput, crossed: bool) -> Tensor:
        """Batch-mean loss; ``crossed`` only matters for ``encoders="crossed"`` (Eqs. 3-5 when True)."""
        q, k, r, l = (None if t is None else t.float() for t in out)  # noqa: E741
        c = self.cfg
        with torch.autocast(device_type=_device_type(out), enabled=False):  # logits in fp32
            if c.encoders == "gcn":
                return moco_loss(q, k, *self._own_banks("gcn"), tau=c.tau, form=c.form).loss
            if c.encoders == "mlp":
                return moco_loss(r, l, *self._own_banks("mlp"), tau=c.tau, form=c.form).loss
            if c.encoders == "uncrossed" or not crossed:
                loss_gcn = moco_loss(q, k, *self._own_banks("gcn"), tau=c.tau, form=c.form).loss
                return loss_gcn + moco_loss(r, l, *self._own_banks("mlp"), tau=c.tau, form=c.form).loss
            for_q, for_r, extra = self._crossed_banks()
            return crossmoco_loss(
                q, k, r, l, for_q, for_r, tau=c.tau, alpha=c.alpha, beta=c.beta, lam=c.lam, phi=c.phi,
                form=c.form, extra_bank=extra,
            ).loss  # fmt: skip

    @torch.no_grad()
    def enqueue(self, out: CrossMoCoOutput) -> None:
        """Feed each bank its keys (after the loss: the current keys are positives, not negatives)."""
        k, l = out.gcn_key, out.mlp_key  # noqa: E741
        feeds = {
            "bank_of_gcn_keys": k,
            "bank_of_mlp_keys": l,
            "bank_of_all_keys": None if k is None or l is None else torch.cat([k, l]),
            "bank_of_fused_keys": None if k is None or l is None else F.normalize(k + l, dim=1),
        }
        for name, bank in self.banks.items():
            bank.enqueue(feeds[name])

    # --- evaluation --------------------------------------------------------------------------

    def features(self, x: Tensor, which: FeatureKind = "both") -> Tensor:
        """Pooled features of the query encoders for the evaluation protocols.

        ``gcn``: f's pooled ST-GCN feature; ``mlp``: h's backbone feature; ``both``: the built
        encoders' features concatenated (one when they share a backbone or only one is built).
        Shape: ``(N, C, T, V, M)`` -> ``(N, F)``.
        """
        enc = self.query_encoders
        if which == "both":
            if self.shared_backbone and len(enc) == 2:
                return enc["gcn"].forward_features(x)
            return torch.cat([e.forward_features(x) for e in enc.values()], dim=1)
        if which not in enc:
            raise ValueError(f"features {which!r} asked of a model built with encoders={self.cfg.encoders!r}")
        return enc[which].forward_features(x)

    def feature_dim(self, which: FeatureKind = "both") -> int:
        """Width of ``features(x, which)``."""
        enc = self.query_encoders
        dims = {name: _num_features(e) for name, e in enc.items()}
        if which == "both":
            return dims["gcn"] if self.shared_backbone and len(enc) == 2 else sum(dims.values())
        return dims[which]

    # --- internals ---------------------------------------------------------------------------

    def _embed(self, encoders: nn.ModuleDict, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """(f(x), h(x)) normalised; one backbone pass when h shares f's ST-GCN."""
        gcn = getattr(encoders, "gcn", None)
        mlp = getattr(encoders, "mlp", None)
        if gcn is not None and mlp is not None and self.shared_backbone:
            z = gcn(x)
            return F.normalize(z, dim=1), F.normalize(mlp.head(z), dim=1)
        q = None if gcn is None else F.normalize(gcn(x), dim=1)
        r = None if mlp is None else F.normalize(mlp(x), dim=1)
        return q, r

    def _own_banks(self, encoder: str) -> list[Tensor]:
        b = self.banks
        if "bank_of_all_keys" in b:
            return [b["bank_of_all_keys"].keys]
        own = [b[f"bank_of_{encoder}_keys"].keys]
        return own + ([b["bank_of_fused_keys"].keys] if "bank_of_fused_keys" in b else [])

    def _crossed_banks(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """(N for q, N* for r, third bank or None)."""
        b = self.banks
        if "bank_of_all_keys" in b:
            return b["bank_of_all_keys"].keys, b["bank_of_all_keys"].keys, None
        extra = b["bank_of_fused_keys"].keys if "bank_of_fused_keys" in b else None
        return b["bank_of_mlp_keys"].keys, b["bank_of_gcn_keys"].keys, extra


def _num_features(encoder: nn.Module) -> int:
    return encoder.num_features if isinstance(encoder, STGCN) else encoder.backbone.num_features


def _device_type(out: CrossMoCoOutput) -> str:
    return next(t for t in out if t is not None).device.type
