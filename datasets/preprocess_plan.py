"""Which raw files a dataset's preprocessing reads, which it skips and why, and each sample's splits.

RAW_DIR layouts: NTU-format datasets (ntu60, ntu120, synthetic) and NW-UCLA are folders searched
recursively for ``*.skeleton`` / ``*.json``; PKU-MMD is the release layout (``skeleton/``,
``label/``, ``split/``). Skipped, not quarantined: NTU-60 runs skip A061-A120 files, NTU runs
skip the names on the missing-skeleton list (``preprocess.skip_list``, else the official list
found in RAW_DIR, RAW_DIR/../meta or <data root>/ntu/meta), and files that look like data but are
not read (``S001C001P001R001A001.skeleton.txt``) are listed as skipped, never dropped silently.
A sample's ``source`` is its file's path relative to RAW_DIR, so files of one name in two
subfolders stay distinct. The input's fingerprint (every file read: relative path, size,
modification time) tells a reused dataset from one of other raw files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
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
    source: str = ""  # NTU, NW-UCLA: the file's path relative to RAW_DIR, the sample's ``source``

    def read(self) -> list[Sample | DatasetFormatError]:
        if self.kind == "ntu":
            s = ntu.read_ntu_skeleton(self.paths[0], max_bodies=self.cfg.max_bodies, denoise=self.cfg.denoise)
            return [replace(s, source=self.source or s.source)]
        if self.kind == "ucla":
            s = ucla.read_ucla_json(self.paths[0], max_bodies=self.cfg.max_bodies)
            return [replace(s, source=self.source or s.source)]
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
        tasks = [Task("ucla", (str(p),), cfg, *anchors, _relative(p, raw_dir)) for p in sorted(raw_dir.rglob("*.json"))]
        return tasks, _look_alikes(raw_dir, ".json", ucla.parse_ucla_name), []
    if dataset == "pku":
        return _plan_pku(raw_dir, cfg, anchors)
    skip = _skip_list(dataset, raw_dir, cfg)
    tasks, skipped, quarantined = [], _look_alikes(raw_dir, ".skeleton", ntu.parse_ntu_name), []
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
            tasks.append(Task("ntu", (str(path),), cfg, *anchors, _relative(path, raw_dir)))
    return tasks, skipped, quarantined


def _relative(path: Path, raw_dir: Path) -> str:
    return path.relative_to(raw_dir).as_posix()


def _look_alikes(raw_dir: Path, suffix: str, parse_name: Callable[[str], object]) -> list[dict]:
    """Skipped records for files that look like data but are not read: ``suffix`` inside the
    name (``x.skeleton.txt``, ``x.SKELETON``) or a dataset file name with another extension."""
    out = []
    for path in sorted(raw_dir.rglob("*")):
        if path.name.endswith(suffix) or not path.is_file():
            continue
        if suffix in path.name.lower() or _parses(parse_name, path.name.split(".")[0]):
            out.append({"file": str(path), "reason": f"not read: only files named *{suffix} are"})
    if out:
        log.warning("%d file(s) under %s look like data but are not named *%s and are not read, e.g. %s",
                    len(out), raw_dir, suffix, out[0]["file"])  # fmt: skip
    return out


def _parses(parse_name: Callable[[str], object], stem: str) -> bool:
    try:
        parse_name(stem)
    except DatasetFormatError:
        return False
    return True


def input_fingerprint(raw_dir: Path, tasks: list[Task]) -> dict[str, object]:
    """What the dataset is made from: the count and a SHA-256 of every file read (path relative to
    RAW_DIR, size, modification time). Cheap (one stat per file); a changed, added or removed
    file changes it, a moved RAW_DIR does not."""
    files = sorted({Path(p) for t in tasks for p in t.paths} | set((raw_dir / "split").glob("*.txt")))
    rows = []
    for f in files:
        st = f.stat()
        rows.append([_relative(f, raw_dir), st.st_size, st.st_mtime_ns])
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    return {"files": len(rows), "sha256": digest}


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
