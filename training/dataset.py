"""An opened dataset as the training core sees it: one split's arrays in memory, and the subsets
that the protocols train and evaluate on. ``pipeline.data`` finds, verifies and opens the shards."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmoco.datasets.loader import load_split_arrays, split_column
from crossmoco.training.modeling import DataInfo

VAL_FRACTION = 0.3  # of the training side's performers, held out to choose settings


@dataclass(frozen=True)
class LoadedDataset:
    """A shard directory opened for one split of ``cfg.data``."""

    root: Path
    split: str
    info: DataInfo
    class_names: tuple[str, ...]

    val_ids: tuple[int, ...] = ()  # the ``val_column`` values whose training-side samples are the validation subset
    stamp: str = ""  # the files as verified (``files_stamp``): what a worker may trust without checking again
    source: str = ""  # the dataset folder on shared storage that ``root`` is a copy of ("": a local folder)
    val_column: str = "performer"  # ``data.val_by``: the metadata column the validation subset holds out

    def arrays(self, subset: str) -> tuple[np.ndarray, np.ndarray]:
        """(x (N, C, T, V, M) float32, labels int64) of ``subset``: "train" or "test" (the split's
        sides), or the training side divided for choosing settings: "val" (its samples of the
        validation performers, or cameras with ``data.val_by=camera``) and "fit" (the rest). The test side
        is never part of either."""
        if subset in ("train", "test"):
            x, y = load_split_arrays(self.root, self.split, subset, verify=False)  # verified when opened
            return x, np.asarray(y, dtype=np.int64)
        if subset not in ("fit", "val"):
            raise ValueError(f"unknown subset {subset!r}; expected train, test, fit or val")
        x, y = self.arrays("train")
        if self.val_ids:
            held = np.isin(split_column(self.root, self.split, "train", self.val_column), self.val_ids)
        else:  # no performer ids to hold out (PKU-MMD): a seeded random VAL_FRACTION (a single camera is an error)
            held = np.random.default_rng(0).random(len(y)) < VAL_FRACTION
        keep = held if subset == "val" else ~held
        return x[keep], y[keep]

    def eval_sides(self, split: str) -> tuple[str, str]:
        """The (training, evaluation) subsets of the protocols: ("train", "test") for the reported
        figure, ("fit", "val") while choosing settings (``eval.split``)."""
        return ("train", "test") if split == "test" else ("fit", "val")
