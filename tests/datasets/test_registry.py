"""The dataset registry: one row per dataset, and the config's dataset names are its names."""

from __future__ import annotations

import typing

import pytest

from crossmoco.datasets.registry import DATASETS, dataset_spec
from crossmoco.training.config import DatasetName


def test_the_configs_dataset_names_are_the_registrys():
    assert set(typing.get_args(DatasetName)) == set(DATASETS)


@pytest.mark.parametrize(("name", "splits", "classes", "bodies", "joints"), [
    ("ntu60", ("xsub", "xview"), 60, 2, 25), ("ntu120", ("xsub", "xset"), 120, 2, 25),
    ("pku", ("xsub", "xview"), 51, 2, 25), ("ucla", ("xview",), 10, 1, 20), ("synthetic", ("xsub", "xview"), 15, 2, 25),
])  # fmt: skip
def test_each_dataset_row(name, splits, classes, bodies, joints):
    spec = dataset_spec(name)
    assert (spec.splits, spec.num_classes, spec.bodies, spec.layout().num_joints) == (splits, classes, bodies, joints)


def test_an_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'kinetics'; expected one of ntu60, ntu120, pku, ucla"):
        dataset_spec("kinetics")
