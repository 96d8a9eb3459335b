"""Typed configuration of the encoders and the contrastive objective (frozen, nested by pipeline).

Every default carries its reason or the paper section. The paper (Zeng et al., CrossMoCo) does not
report alpha, beta, lambda, phi, tau, a, b, c: our choices are marked "not reported".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EncoderMode = Literal["gcn", "mlp", "uncrossed", "crossed"]
LossForm = Literal["paper", "infonce"]
Method = Literal["crossmoco", "skeletonclr", "supervised", "random"]  # models/registry.py builds each


@dataclass(frozen=True)
class EncoderConfig:
    """ST-GCN / ST-MLP encoders (§III-B, Fig. 3).

    The default stage plan is the reduced-width ST-GCN the SkeletonCLR / CrosSCLR code pretrains
    with (its ``net/st_gcn.py`` with ``hidden_channels=16, hidden_dim=256``): ten blocks
    3->16, 16->16 x3, 16->32 stride 2, 32->32 x2, 32->64 stride 2, 64->64, 64->256, pooled
    feature 256, projection to a 128-d embedding, dropout 0.5. The standard full-width ST-GCN of
    Yan et al. 2018 is ``channels=64,64,64,64,128,128,128,256,256,256`` (same strides).
    """

    channels: tuple[int, ...] = (16, 16, 16, 16, 32, 32, 32, 64, 64, 256)  # SkeletonCLR/CrosSCLR plan
    strides: tuple[int, ...] = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)  # temporal stride per block, same source
    temporal_kernel: int = 9  # ST-GCN (Yan et al. 2018) temporal kernel
    dropout: float = 0.0  # the CrosSCLR lineage's yaml has 0.5; 0 measured better on validation (synthetic probe,
    # 8 smoke epochs, all else equal: linear 92 vs 84, kNN 68 vs 59), and dropout's Bernoulli masks were 13% of the
    # CPU step
    edge_importance: bool = True  # ST-GCN learnable edge importance, on in st-gcn and CrosSCLR
    channels_last: bool = True  # activations in (N, T, V, C) memory (torch.channels_last): the layout oneDNN's and
    # cuDNN's convolutions run natively; NCHW makes them reorder each call (bench/bench_step.py measures both)
    embed_dim: int = 128  # MoCo / SkeletonCLR embedding size ("feature_dim=128")
    mlp_layers: int = 1  # FC->BN->ReLU->FC blocks in ST-MLP; Table IV: 1 is the paper's best
    mlp_hidden: int = 256  # hidden width of an MLP block = pooled feature width (SkeletonCLR's mlp)
    mlp_shared_backbone: bool = True  # ST-MLP = the MLP "added to the top of the base encoder" (§I, §V),
    # "ST-GCN and MLP connected in series" whose "parameters ... are updated" (§III): one ST-GCN; False
    # gives ST-MLP an ST-GCN of its own (the "two encoders" of Fig. 1b read as two backbones)

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ValueError("encoder.channels and encoder.strides must be non-empty and of equal length")
        if any(c <= 0 for c in self.channels) or any(s not in (1, 2) for s in self.strides):
            raise ValueError("encoder.channels must be positive and encoder.strides 1 or 2")
        if self.temporal_kernel % 2 != 1:
            raise ValueError("encoder.temporal_kernel must be odd")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("encoder.dropout must be in [0, 1)")
        if self.mlp_layers not in (1, 2, 3):
            raise ValueError("encoder.mlp_layers must be 1, 2 or 3 (Table IV)")


@dataclass(frozen=True)
class ContrastiveConfig:
    """The CrossMoCo objective (Eqs. 1-5, 9-10) and its Table II-III variants."""

    encoders: EncoderMode = "crossed"  # Table II; "crossed" is the paper's method
    num_banks: int = 2  # Table III; two independent banks is the paper's method
    queue_size: int = 16384  # K, "16 K" (§IV-B)
    momentum: float = 0.999  # m of Eq. (1) (§IV-B); a schedule, if any, lives in pipeline/
    tau: float = 0.2  # not reported (§III-A). MoCo v1 / SkeletonCLR use 0.07, MoCo v2 0.2. At initialisation the
    # pooled ReLU features put every sample in nearly one direction (cosine 0.8-0.99); at 0.07 the loss spent the
    # short schedules un-collapsing them and validation accuracy fell below random init; 0.2 did not (docs/fidelity.md
    # "Measurements behind the profiles and defaults")
    alpha: float = 0.5  # Eq. (3), in [0, 1); not reported: equal weight to both crossed positives
    beta: float = 0.5  # Eq. (3), in [0, 1); not reported
    lam: float = 0.5  # lambda of Eq. (4), in [0, 1); not reported: equal to alpha keeps Eq. (5) MoCo-like
    phi: float = 0.5  # Eq. (4), in [0, 1); not reported
    form: LossForm = "infonce"  # Eq. (5) as printed drops L_pos from the denominator ("paper"); MoCo's Eq. (2),
    # which the paper reviews, keeps it ("infonce"). Measured both on validation: the printed form's positive pull
    # never saturates and it fell behind (synthetic probe kNN 71 vs 88); "paper" stays an option
    cross_start_epoch: int = 150  # §IV-B: cross-train the last 150 of 300 epochs; uncrossed before
    weight_joint: float = 1.0  # a of Eq. (10), in (0, 1]; not reported; 0 drops the stream
    weight_motion: float = 1.0  # b of Eq. (10); not reported
    weight_bone: float = 1.0  # c of Eq. (10); not reported
    shuffle_bn_groups: int = 1  # MoCo's shuffling BN in one process (models/shuffle_bn.py); 1 = off, as the
    # CrosSCLR lineage (no shuffling); >1 encodes queries and keys in that many sub-batches

    def __post_init__(self) -> None:
        if self.num_banks not in (1, 2, 3):
            raise ValueError("contrastive.num_banks must be 1, 2 or 3 (Table III)")
        if self.queue_size <= 0:
            raise ValueError("contrastive.queue_size must be positive")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError("contrastive.momentum must be in [0, 1]")
        if self.tau <= 0:
            raise ValueError("contrastive.tau must be positive")
        for name in ("alpha", "beta", "lam", "phi", "weight_joint", "weight_motion", "weight_bone"):
            if getattr(self, name) < 0:
                raise ValueError(f"contrastive.{name} must be >= 0")
        if self.shuffle_bn_groups < 1:
            raise ValueError("contrastive.shuffle_bn_groups must be >= 1")
        if self.weight_joint + self.weight_motion + self.weight_bone <= 0:
            raise ValueError("at least one stream weight (contrastive.weight_*) must be positive")

    @property
    def stream_weights(self) -> dict[str, float]:
        """Eq. (10)'s a, b, c for the streams that are built (weight > 0)."""
        w = {"joint": self.weight_joint, "motion": self.weight_motion, "bone": self.weight_bone}
        return {k: v for k, v in w.items() if v > 0}
