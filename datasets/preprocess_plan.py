"""Which raw files a dataset's preprocessing reads, which it skips and why, and each sample's splits.

RAW_DIR layouts: NTU-format datasets (ntu60, ntu120, synthetic) and NW-UCLA are folders searched
recursively for ``*.skeleton`` / ``*.json``; PKU-MMD is the release layout (``skeleton/``,
``label/``, ``split/``). Skipped, not quarantined: NTU-60 runs skip A061-A120 files, and NTU runs
skip the names on the missing-skeleton list (``preprocess.skip_list``, else the official list
found in RAW_DIR, RAW_DIR/../meta or <data root>/ntu/meta).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from datasets import ntu, pku, ucla
from datasets.config import PreprocessConfig
from datasets.errors import DatasetFormatError
from datasets.locations import data_root
from datasets.sample import Sample
from datasets.skeleton import layout_for

log = logging.getLogger(__name__)

OFFICIAL_SKIP_LISTS = {"ntu60": "NTU_RGBD_samples_with_missing_skeletons.txt",
                       "ntu120": "NTU_RGBD120_samples_with_missing_skeletons.txt"}  # fmt: skip


@dataclass(frozen=True)
class Task:
    """One unit of parallel work: a raw file (a PKU-MMD video and its label file)."""

    kind: str  # "ntu", "ucla" or "pku"
    paths: tuple[str, ...]
    cfg: PreprocessConfig
    center0: int
    shoulders0: tuple[int, int] = (-1, -1)  # (left, right) shoulder joints, for the view normalisation

    def read(self) -> list[Sample | DatasetFormatError]:
        if self.kind == "ntu":
            return [ntu.read_ntu_skeleton(self.paths[0], max_bodies=self.cfg.max_bodies, denoise=self.cfg.denoise)]
        if self.kind == "ucla":
            return [ucla.read_ucla_json(self.paths[0], max_bodies=self.cfg.max_bodies)]
        video = pku.pku_video_name(self.paths[0])
        frames = pku.read_pku_skeleton(self.paths[0])
        items = pku.read_pku_labels(self.paths[1], len(frames))
        return [i if isinstance(i, DatasetFormatError) else pku.interval_sample(frames, video, i, self.cfg.max_bodies)
                for i in items]  # fmt: skip


def plan_tasks(dataset: str, raw_dir: Path, cfg: PreprocessConfig) -> tuple[list[Task], list[dict], list[dict]]:
    """(tasks, skipped records, quarantined records) for a raw folder."""
    layout = layout_for(dataset, cfg.hands)
    anchors = (layout.center0, layout.shoulders0)
    if dataset == "ucla":
        return [Task("ucla", (str(p),), cfg, *anchors) for p in sorted(raw_dir.rglob("*.json"))], [], []
    if dataset == "pku":
        return _plan_pku(raw_dir, cfg, anchors)
    skip = _skip_list(dataset, raw_dir, cfg)
    tasks, skipped, quarantined = [], [], []
    for path in sorted(raw_dir.rglob("*.skeleton")):
        try:
            name = ntu.parse_ntu_name(path)
        except DatasetFormatError as e:
            quarantined.append(e.as_record())
            continue
        if dataset == "ntu60" and name.action > 60:
            skipped.append({"file": str(path), "reason": "class outside NTU-60 (A061-A120)"})
        elif path.name.removesuffix(".skeleton") in skip:
            skipped.append({"file": str(path), "reason": "on the missing-skeleton list"})
        else:
            tasks.append(Task("ntu", (str(path),), cfg, *anchors))
    return tasks, skipped, quarantined


def _plan_pku(
    raw_dir: Path, cfg: PreprocessConfig, anchors: tuple[int, tuple[int, int]]
) -> tuple[list[Task], list[dict], list[dict]]:
    tasks, quarantined = [], []
    for skel in sorted((raw_dir / "skeleton").glob("*.txt")):
        label = raw_dir / "label" / skel.name
        if label.is_file():
            tasks.append(Task("pku", (str(skel), str(label)), cfg, *anchors))
        else:
            quarantined.append(DatasetFormatError(label, None, "label file missing for this video").as_record())
    return tasks, [], quarantined


def _skip_list(dataset: str, raw_dir: Path, cfg: PreprocessConfig) -> frozenset[str]:
    if cfg.skip_list:
        return ntu.read_skip_list(cfg.skip_list)
    if dataset not in OFFICIAL_SKIP_LISTS:
        return frozenset()
    name = OFFICIAL_SKIP_LISTS[dataset]
    for folder in (raw_dir, raw_dir.parent / "meta", data_root() / "ntu" / "meta"):
        if (folder / name).is_file():
            log.info("skipping the samples listed in %s", folder / name)
            return ntu.read_skip_list(folder / name)
    log.warning("no missing-skeleton list %s found: no sample is skipped", name)
    return frozenset()


def splits_of(dataset: str, sample: Sample, pku_lists: dict | None) -> dict[str, str]:
    """Split name -> "train" / "test" (PKU-MMD: "none" for a video neither list names)."""
    if dataset == "ucla":
        return ucla.ucla_splits(ucla.parse_ucla_name(sample.source))
    if dataset == "pku":
        return pku.pku_splits(sample.source.split(":")[0], pku_lists or {})
    return ntu.ntu_splits(dataset, ntu.parse_ntu_name(sample.source))
