"""Every dataset this project reads, as one row of data each: its splits, classes, bodies, skeleton,
how its raw folder becomes tasks, how a sample finds its splits, and its class names.

Adding a dataset is adding a row here (plus its reader); nothing else dispatches on a dataset name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crossmoco.datasets import class_names as names
from crossmoco.datasets import ntu, pku, preprocess_plan, ucla
from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.sample import Sample
from crossmoco.datasets.skeleton import HandConvention, SkeletonLayout, ntu_layout, ucla_layout
from crossmoco.datasets.synthetic_actions import ACTIONS

Planner = Callable[[str, Path, PreprocessConfig, SkeletonLayout], tuple[list, list[dict], list[dict]]]
Splitter = Callable[[Sample], dict[str, str]]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: what preprocessing, loading and the models need to know of it."""

    name: str
    splits: tuple[str, ...]  # split names, each with a "train" and a "test" side
    num_classes: int
    bodies: int  # bodies a sample keeps by default (``preprocess.max_bodies=0``)
    skeleton: Callable[[HandConvention], SkeletonLayout]  # the joints and edges of its recordings
    plan: Planner  # raw folder -> (tasks, skipped records, quarantined records)
    splitter: Callable[[Path], Splitter]  # raw folder -> sample -> {split: side}
    class_names: Callable[[Path, int], tuple[str, ...]]  # raw folder, count -> names of labels 0..count-1

    def layout(self, hands: HandConvention = "chain") -> SkeletonLayout:
        return self.skeleton(hands)


def _ntu_splitter(dataset: str) -> Callable[[Path], Splitter]:
    return lambda raw_dir: lambda s: ntu.ntu_splits(dataset, ntu.parse_ntu_name(s.source))


def _ucla_splitter(raw_dir: Path) -> Splitter:
    return lambda s: ucla.ucla_splits(ucla.parse_ucla_name(s.source))


def _pku_splitter(raw_dir: Path) -> Splitter:
    lists = pku.pku_split_lists(raw_dir)  # the release's split files, read once per run
    return lambda s: pku.pku_splits(s.source.split(":")[0], lists)


def _ntu_names(dataset: str) -> Callable[[Path, int], tuple[str, ...]]:
    return lambda raw_dir, count: names.ntu_names(dataset, Path(raw_dir), count)


def _ucla(hands: HandConvention) -> SkeletonLayout:
    return ucla_layout()  # Kinect v1: no hand joints to choose for


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("ntu60", ("xsub", "xview"), 60, 2, ntu_layout, preprocess_plan.plan_ntu,
                    _ntu_splitter("ntu60"), _ntu_names("ntu60")),
        DatasetSpec("ntu120", ("xsub", "xset"), 120, 2, ntu_layout, preprocess_plan.plan_ntu,
                    _ntu_splitter("ntu120"), _ntu_names("ntu120")),
        DatasetSpec("pku", ("xsub", "xview"), pku.NUM_CLASSES, 2, ntu_layout, preprocess_plan.plan_pku,
                    _pku_splitter, lambda raw_dir, count: names.pku_names(Path(raw_dir), count)),
        DatasetSpec("ucla", ("xview",), ucla.NUM_CLASSES, 1, _ucla, preprocess_plan.plan_ucla,
                    _ucla_splitter, lambda raw_dir, count: names.UCLA_CLASSES[:count]),
        DatasetSpec("synthetic", ("xsub", "xview"), len(ACTIONS), 2, ntu_layout, preprocess_plan.plan_ntu,
                    _ntu_splitter("synthetic"), lambda raw_dir, count: names.SYNTHETIC_CLASSES[:count]),
    )
}  # fmt: skip


def dataset_spec(name: str) -> DatasetSpec:
    """The registry row of ``name``; an unknown name is a ValueError listing the known ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def layout_for(dataset: str, hands: HandConvention = "chain") -> SkeletonLayout:
    """The skeleton layout of a dataset name (ntu60, ntu120, pku, synthetic: NTU's; ucla)."""
    return dataset_spec(dataset).layout(hands)
