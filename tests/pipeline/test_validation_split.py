"""The validation subset (``eval.split=val``): unseen performers, or with ``data.val_by=camera`` an
unseen view of the training side, as the xview test split asks."""

from __future__ import annotations

import numpy as np
import pytest

from crossmoco.datasets.loader import split_column
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import DataError, load_dataset, validation_cameras


def test_camera_held_out_validation_is_the_training_sides_last_view(synthetic_shards):
    cfg = load_config("smoke", ["data.split=xsub", "data.val_by=camera"])
    data = load_dataset(synthetic_shards, cfg)
    cameras = split_column(data.root, "xsub", "train", "camera")
    assert data.val_column == "camera" and data.val_ids == (int(cameras.max()),)
    (_, y_fit), (_, y_val), (_, y_train) = data.arrays("fit"), data.arrays("val"), data.arrays("train")
    held = cameras == cameras.max()
    assert len(y_val) == held.sum() > 0 and len(y_fit) == (~held).sum() > 0
    np.testing.assert_array_equal(np.sort(np.concatenate([y_fit, y_val])), np.sort(y_train))
    by_performer = load_dataset(synthetic_shards, load_config("smoke", ["data.split=xsub"]))
    assert by_performer.val_column == "performer" and len(by_performer.arrays("val")[1]) != len(y_val)


def test_validation_cameras_chosen_default_and_bad():
    cams = np.array([1, 1, 2, 3, 3])
    assert validation_cameras(cams, ()) == (3,)
    assert validation_cameras(cams, (2, 1)) == (1, 2)
    with pytest.raises(DataError, match="single camera"):  # one view: nothing to hold out, and no silent
        validation_cameras(np.array([4, 4]), ())  # random split in its place
    with pytest.raises(DataError, match="no camera"):
        validation_cameras(cams, (7,))
    with pytest.raises(DataError, match="every camera"):
        validation_cameras(cams, (1, 2, 3))
