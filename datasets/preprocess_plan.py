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

from crossmoco.datasets import ntu, pku, ucla
from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.locations import data_root
from crossmoco.datasets.sample import Sample
from crossmoco.datasets.skeleton import SkeletonLayout

log = logging.getLogger(__name__)

OFFICIAL_SKIP_LISTS = {"ntu60": "NTU_RGBD_samples_with_missing_skeletons.txt",
                       "ntu120": "NTU_RGBD120_samples_with_missing_skeletons.txt"}  # fmt: skip
ACTION_LIMIT = {"ntu60": (60, "class outside NTU-60 (A061-A120)")}  # NTU-60 runs may read the NTU-120 release


@dataclass(frozen=True)
class Task:
    """One unit of parallel work: a raw file (a PKU-MMD video and its label file)."""

    reader: Callable[[Task], list[Sample | DatasetFormatError]]  # a module-level function: tasks are pickled
    paths: tuple[str, ...]
    cfg: PreprocessConfig
    center0: int
    shoulders0: tuple[int, int] = (-1, -1)  # (left, right) shoulder joints, for the view normalisation
    source: str = ""  # NTU, NW-UCLA: the file's path relative to RAW_DIR, the sample's ``source``

    def read(self) -> list[Sample | DatasetFormatError]:
        return self.reader(self)


def read_ntu_task(task: Task) -> list[Sample | DatasetFormatError]:
    s = ntu.read_ntu_skeleton(task.paths[0], max_bodies=task.cfg.max_bodies, denoise=task.cfg.denoise)
    return [replace(s, source=task.source or s.source)]


def read_ucla_task(task: Task) -> list[Sample | DatasetFormatError]:
    s = ucla.read_ucla_json(task.paths[0], max_bodies=task.cfg.max_bodies)
    return [replace(s, source=task.source or s.source)]


def read_pku_task(task: Task) -> list[Sample | DatasetFormatError]:
    return pku.read_pku_video(task.paths[0], task.paths[1], task.cfg.max_bodies)


Plan = tuple[list[Task], list[dict], list[dict]]  # (tasks, skipped records, quarantined records)


def plan_ucla(dataset: str, raw_dir: Path, cfg: PreprocessConfig, layout: SkeletonLayout) -> Plan:
    """Every ``*.json`` under ``raw_dir``."""
    anchors = (layout.center0, layout.shoulders0)
    tasks = [Task(read_ucla_task, (str(p),), cfg, *anchors, _relative(p, raw_dir))
             for p in sorted(raw_dir.rglob("*.json"))]
    return tasks, _look_alikes(raw_dir, ".json", ucla.parse_ucla_name), []


def plan_ntu(dataset: str, raw_dir: Path, cfg: PreprocessConfig, layout: SkeletonLayout) -> Plan:
    """Every ``*.skeleton`` under ``raw_dir`` but those of classes outside the dataset and those on
    the missing-skeleton list."""
    anchors = (layout.center0, layout.shoulders0)
    skip = _skip_list(dataset, raw_dir, cfg)
    limit, outside = ACTION_LIMIT.get(dataset, (None, ""))
    tasks, skipped, quarantined = [], _look_alikes(raw_dir, ".skeleton", ntu.parse_ntu_name), []
    for path in sorted(raw_dir.rglob("*.skeleton")):
        try:
            name = ntu.parse_ntu_name(path)
        except DatasetFormatError as e:
            quarantined.append(e.as_record())
            continue
        if limit is not None and name.action > limit:
            skipped.append({"file": str(path), "reason": outside})
        elif path.name.removesuffix(".skeleton") in skip:
            skipped.append({"file": str(path), "reason": "on the missing-skeleton list"})
        else:
            tasks.append(Task(read_ntu_task, (str(path),), cfg, *anchors, _relative(path, raw_dir)))
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


def confine_to(raw_dir: Path, tasks: list[Task]) -> None:
    """Raise a DatasetFormatError naming the first file to be read (a task's, or a split file) that
    a symbolic link leads out of ``raw_dir``: preprocessing reads the folder it was given, nothing
    else (``raw_dir`` itself may be a link). Copy such a file in to use it."""
    root = raw_dir.resolve()
    for f in [Path(p) for t in tasks for p in t.paths] + sorted((raw_dir / "split").glob("*.txt")):
        if not f.resolve().is_relative_to(root):
            raise DatasetFormatError(f, None, f"a symbolic link out of the raw folder {raw_dir}: refused "
                                     "(copy the file into the folder to use it)")  # fmt: skip


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


def plan_pku(dataset: str, raw_dir: Path, cfg: PreprocessConfig, layout: SkeletonLayout) -> Plan:
    """Every video of the release layout (``skeleton/*.txt``) with its ``label/`` file."""
    anchors = (layout.center0, layout.shoulders0)
    tasks, quarantined = [], []
    for skel in sorted((raw_dir / "skeleton").glob("*.txt")):
        label = raw_dir / "label" / skel.name
        if label.is_file():
            tasks.append(Task(read_pku_task, (str(skel), str(label)), cfg, *anchors))
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
