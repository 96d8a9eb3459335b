"""Typed configuration of preprocessing and augmentation (frozen, nested by pipeline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from crossmoco.datasets.skeleton import HandConvention

AugmentStep = Literal["view", "shear", "crop", "occlusion"]  # datasets/augment.py, applied in the listed order
OcclusionReading = Literal[
    "every_frame_and_blank", "in_selected_frames", "random_rate_in_selected_frames", "random_rate_every_frame"
]


@dataclass(frozen=True)
class PreprocessConfig:
    """Raw recordings -> fixed-size (C, T, V, M) float32 samples (§IV-A/B)."""

    num_frames: int = 50  # §IV-B: every dataset is resized to 50 frames
    max_bodies: int = 0  # 0 = the dataset's own count: 2 for NTU and PKU-MMD (the 2 most active bodies, padded),
    # 1 for the single-person NW-UCLA (a padded all-zero body would be half of every BatchNorm batch and
    # half of every pooled feature, and double the compute)
    center: bool = True  # subtract the centre joint of body 1 (first valid frame), common NTU pre-normalisation
    rotate: Literal["none", "shoulders"] = "shoulders"  # "shoulders": turn every body about the vertical (y)
    # axis so body 1's shoulder line points along +x in its first valid frame. The paper is silent; the
    # lineage's NTU data are view-normalised the same way (2s-AGCN pre_normalization, used by CrosSCLR), and
    # on NW-UCLA, whose test view is unseen, it raised random-init cross-view validation kNN by 4-9 points
    denoise: bool = True  # drop spurious NTU bodies (standard NTU preprocessing; A024-A029 carry one)
    hands: HandConvention = "chain"  # NTU hand joints 22-25, see datasets/skeleton.py
    shard_rows: int = 1024  # rows per Parquet shard: ~30 MB of float32 at 3x50x25x2, bounded memory
    # NTU missing-skeleton list to skip (issue 4); "" = the official list found beside the raw data
    skip_list: str = ""

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ValueError("preprocess.num_frames must be >= 2")
        if self.max_bodies not in (0, 1, 2):
            raise ValueError("preprocess.max_bodies must be 0 (the dataset's count), 1 or 2")
        if self.shard_rows < 1:
            raise ValueError("preprocess.shard_rows must be >= 1")


@dataclass(frozen=True)
class OcclusionConfig:
    """The spatiotemporal occlusion mask, Eqs. (11)-(14). Ambiguities of the paper are options.

    * ``reading`` (Eq. 14): how the spatial and the temporal draw compose (datasets/occlusion.py).
      Eq. (14) as printed, D_Temporal(D_Spatial(X)), read literally, is "every_frame_and_blank":
      bones occluded in every frame, then beta x T frames blanked; at (0.5, 0.6) it zeroes 80% of
      the joint-frames, blanks half the frames and leaves none clean. Fig. 4's description
      contradicts that: "There is no occlusion in t2 frames", t4 / t5 lose only "the left calves
      and right feet" / "the right calves and right feet", no panel is described as blank, and
      "the occlusion mask's body part and occlusion rate are different and random between 50
      frames" (§III-D: "randomly mask position of skeleton joints with random different occlusion
      mask rates"). Readings that fit the text: "in_selected_frames" (the temporal draw picks the
      beta x T frames in which bones are occluded; the others stay clean, none is blank: ~31%
      zeroed), "random_rate_in_selected_frames" (as that, each selected frame with its own rate
      uniform in [0, r]: ~16%), "random_rate_every_frame" (every frame its own rate in [0, r],
      beta unused: ~33%). Fig. 5's single masks: experiments/tables.py::single_mask. The default
      is the one measured best of the readings on NW-UCLA's view-held-out validation (docs/claims.md
      "The occlusion mask: four readings of Eq. (14)").
    * ``spatial_sampling`` (Eq. 11): "per_frame" draws new joints in every frame (Fig. 4 shows a
      different occluded body part in each frame); "per_sequence" draws once per sample.
    * ``rate_mode`` (Eqs. 11, 13): "fixed" uses r and beta as printed; "uniform" draws each
      sample's rate in [0, r] (the text speaks of a "random mask proportion").
    * ``partner`` (Eq. 11): which adjacent joint forms the bone with a sampled joint: its "parent"
      along the layout's edges (the centre joint pairs with a random child), or a "random"
      neighbour.
    * ``count`` (Eq. 11): r x N_j counts the sampled joints ("seeds", before each grows into a
      bone) or the occluded joints ("joints", seeds are drawn until r x N_j joints are covered).

    ``python -m crossmoco occlusion-stats --set augment.occlusion.reading=...`` prints what a setting
    zeroes; ``figure-occlusion`` draws it (Fig. 4).
    """

    spatial_rate: float = 0.6  # r, §IV-B ("0.6")
    temporal_rate: float = 0.5  # beta, §IV-B ("0.5"); Table I's best cell is (0.6, 0.6), see experiments/
    reading: OcclusionReading = "in_selected_frames"  # measured best of the text's readings; see above
    spatial_sampling: Literal["per_frame", "per_sequence"] = "per_frame"  # Fig. 4
    rate_mode: Literal["fixed", "uniform"] = "fixed"  # Eq. (11) as printed
    partner: Literal["parent", "random"] = "parent"  # the bone along the layout's edge tuple
    count: Literal["seeds", "joints"] = "joints"  # r is the occluded fraction of joints ("mask rate");
    # "seeds" (r x N_j sampled joints, each grown to a bone) occludes ~80% of joints at r = 0.6,
    # far more than Fig. 4 shows

    def __post_init__(self) -> None:
        if not (0.0 <= self.spatial_rate <= 1.0 and 0.0 <= self.temporal_rate <= 1.0):
            raise ValueError("augment.occlusion rates must be in [0, 1]")


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentation makes the two views x1, x2 (§III-D, Table I, Fig. 5): a list of named steps."""

    # The named steps that make one view, applied in this order (pyskl's / solo-learn's pipelines of named
    # transforms): "view" (a random rotation and scale, datasets/augment.py::view_change), "shear" and "crop"
    # (CrosSCLR's pair), "occlusion" (the paper's mask, Eqs. 11-14); () = the input unchanged. §IV-B: the
    # occlusion mask "instead of traditional data augmentation such as shear and crop"; the paper's rows
    # (experiments/tables.py) run the mask. The default stays shear + crop, measured best on validation
    # (docs/claims.md "Augmentation, chosen on validation")
    steps: tuple[AugmentStep, ...] = ("shear", "crop")
    occlusion: OcclusionConfig = field(default_factory=OcclusionConfig)
    shear_amplitude: float = 0.5  # CrosSCLR/SkeletonCLR; 1.0 read lower on validation (docs/fidelity.md)
    crop_padding: int = 6  # CrosSCLR's temperal_padding_ratio: pad T // 6 frames on each side, then crop T
    # A random view change before the shear (datasets/augment.py::view_change), for the cross-view splits; the
    # paper and CrosSCLR have none. CTR-GCN's NW-UCLA feeder (feeders/feeder_ucla.py::rand_view_transform) turns
    # every training sample about x and y by angles drawn in [-60, 60] degrees and scales it by s in [0.5, 1.5].
    # It read lower on validation, so it stays off (docs/fidelity.md "Validation sweeps")
    rotate_degrees: float = 0.0  # largest angle about x and about y; 0 = no rotation (the lineage)
    scale_amplitude: float = 0.0  # s uniform in [1 - a, 1 + a]; 0 = no scaling (the lineage)

    def __post_init__(self) -> None:
        if len(set(self.steps)) != len(self.steps):
            raise ValueError(f"augment.steps names a step twice: {','.join(self.steps)}")
        if self.shear_amplitude < 0 or self.crop_padding < 0:
            raise ValueError("augment.shear_amplitude and augment.crop_padding must be >= 0")
        if not 0 <= self.rotate_degrees <= 180 or not 0 <= self.scale_amplitude < 1:
            raise ValueError("augment.rotate_degrees must be in [0, 180] and augment.scale_amplitude in [0, 1)")
