"""Raw recordings -> fixed-size samples -> Parquet shards + manifest.json (§IV-A/B).

Per sample: optional centring on the layout's centre joint, resizing to ``num_frames`` frames by
linear interpolation over the valid frames (frames where some body is present; gaps are dropped
first), padding to ``max_bodies`` bodies, float32 (C, T, V, M). Files are parsed in parallel on all
cores; a file that fails to parse is quarantined (listed in the manifest with file, line, reason)
and the rest complete; if every file is quarantined the run is an error and writes nothing. The
output directory is ``OUT_DIR/<dataset>-<config hash>``: a different config writes elsewhere, the
same config and the same input (files, sizes, modification times) finds the manifest and does
nothing, the same config on other input is an error (a complete dataset folder is never replaced
under the runs that used it). The folder is built under a hidden temporary name and renamed when
complete, so a failed run (full disk, Ctrl-C) leaves no half-written dataset behind.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.manifest import MANIFEST, count_rows, preprocess_hash, read_manifest, write_manifest
from crossmoco.datasets.preprocess_plan import Task, confine_to, input_fingerprint
from crossmoco.datasets.registry import DatasetSpec, dataset_spec
from crossmoco.datasets.sample import Sample
from crossmoco.datasets.shards import SCHEMA_VERSION, rows_to_table, shard_schema, write_shard
from crossmoco.datasets.skeleton import CANONICAL_LAYOUT

log = logging.getLogger(__name__)

def resolve_bodies(dataset: str, cfg: PreprocessConfig) -> PreprocessConfig:
    """``cfg`` with ``max_bodies=0`` replaced by the dataset's own count (``DatasetSpec.bodies``)."""
    return replace(cfg, max_bodies=dataset_spec(dataset).bodies) if cfg.max_bodies == 0 else cfg


# Maps ``process_task`` over the tasks and yields its results in task order; the default runs a
# process pool on this machine, ``pipeline.preprocess_ray`` fans the files out as Ray tasks.
Mapper = Callable[[Callable[[Task], tuple[list[Sample], list[dict]]], list[Task]],
                  Iterable[tuple[list[Sample], list[dict]]]]


def preprocess_dataset(
    dataset: str, raw_dir: Path, out_dir: Path, cfg: PreprocessConfig, *, workers: int | None = None,
    mapper: Mapper | None = None,
) -> Path:
    """Write ``out_dir/<dataset>-<hash12>/`` (shards + manifest.json) unless it is already complete.
    The files are parsed by ``mapper`` (default: ``workers`` processes); the shards and manifest
    depend only on the results in task order, so every mapper writes the same bytes."""
    spec = dataset_spec(dataset)
    cfg = resolve_bodies(dataset, cfg)
    raw_dir, digest = Path(raw_dir), preprocess_hash(dataset, cfg)
    shard_dir = Path(out_dir) / f"{dataset}-{digest[:12]}"
    done = _complete_manifest(shard_dir, digest)
    if done is not None and not raw_dir.is_dir():
        log.info("%s already preprocessed with this config in %s (raw folder %s gone): nothing to do",
                 dataset, shard_dir, raw_dir)  # fmt: skip
        return shard_dir
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw data folder {raw_dir} does not exist")
    tasks, skipped, quarantined = spec.plan(dataset, raw_dir, cfg, spec.layout(cfg.hands))
    if not tasks:
        raise FileNotFoundError(f"no {dataset} raw files found under {raw_dir}")
    confine_to(raw_dir, tasks)  # a symbolic link out of RAW_DIR: refused before any file is read
    source = input_fingerprint(raw_dir, tasks)
    if done is not None:
        _check_same_input(shard_dir, done, raw_dir, source)
        log.info("%s already preprocessed with this config in %s: nothing to do", dataset, shard_dir)
        return shard_dir
    staging = shard_dir.with_name(f".{shard_dir.name}.partial-{os.getpid()}")
    try:
        _remove_stale_partials(shard_dir)
        staging.mkdir(parents=True)
        results = mapper(process_task, tasks) if mapper is not None else _run(tasks, workers, spec.name)
        manifest = _write_shards(spec, raw_dir, staging, cfg, tasks, results, skipped, quarantined)
        manifest.update({"config_hash": digest, "input": source})
        write_manifest(staging, manifest)
        if shard_dir.exists():  # an unfinished folder of an older version, or another config's
            shutil.rmtree(shard_dir)
        os.rename(staging, shard_dir)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise _naming(e, shard_dir) from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("%s: %d samples in %d shards, %d skipped, %d quarantined -> %s", dataset, manifest["num_rows"],
             len(manifest["shards"]), len(skipped), len(manifest["quarantined"]), shard_dir)  # fmt: skip
    return shard_dir


def _write_shards(spec: DatasetSpec, raw_dir: Path, shard_dir: Path, cfg: PreprocessConfig, tasks: list[Task],
                  results: Iterable[tuple[list[Sample], list[dict]]], skipped: list[dict],
                  quarantined: list[dict]) -> dict:  # fmt: skip
    """Write the parsed ``tasks`` (``results``, in task order) into shards in ``shard_dir``; returns
    the manifest (less hash and input)."""
    shape = (3, cfg.num_frames, spec.layout(cfg.hands).num_joints, cfg.max_bodies)
    writer = _ShardWriter(shard_dir, shard_schema(spec.splits, shape), cfg.shard_rows)
    splits_of = spec.splitter(raw_dir)
    for samples, errors in results:
        quarantined += errors
        for s in samples:
            writer.add(s, splits_of(s))
    writer.close()
    for q in quarantined:
        log.warning("quarantined %s", DatasetFormatError(q["file"], q["line"], q["reason"]))
    if not writer.labels:
        first = DatasetFormatError(quarantined[0]["file"], quarantined[0]["line"], quarantined[0]["reason"])
        raise DatasetFormatError(raw_dir, None, f"no usable sample: all {len(tasks)} raw file(s) quarantined "
                                 f"(first: {first}); no dataset written")  # fmt: skip
    return {"schema_version": SCHEMA_VERSION, "dataset": spec.name, "config": asdict(cfg),
            "raw_dir": str(raw_dir.resolve()), "shape": list(shape),
            "dtype": "float32", "layout": CANONICAL_LAYOUT, "num_classes": spec.num_classes,
            "class_names": list(spec.class_names(raw_dir, spec.num_classes)),
            "splits": list(spec.splits), "num_rows": len(writer.labels),
            "counts": count_rows(writer.labels, writer.sides, spec.num_classes),
            "shards": writer.entries, "skipped": skipped, "quarantined": quarantined}  # fmt: skip


def _naming(e: OSError, path: Path) -> OSError:
    """``e`` as an OSError that names a file (``path`` unless it named one) and says why plainly."""
    reason = os.strerror(e.errno) if e.errno else (e.strerror or str(e))
    return OSError(e.errno, reason, e.filename or str(path))


def _complete_manifest(shard_dir: Path, digest: str) -> dict | None:
    """The manifest of a complete dataset folder made with this config, if there is one."""
    if not (shard_dir / MANIFEST).is_file():
        return None
    manifest = read_manifest(shard_dir, verify=False)
    return manifest if manifest.get("config_hash") == digest else None


def _check_same_input(shard_dir: Path, manifest: dict, raw_dir: Path, source: dict) -> None:
    """Raise unless the complete dataset in ``shard_dir`` was made from this input. A manifest
    written before inputs were fingerprinted is taken for its own raw folder only."""
    recorded = manifest.get("input")
    same = recorded == source if recorded else manifest.get("raw_dir") == str(raw_dir.resolve())
    if not same:
        was = f"{recorded['files']} files" if recorded else "another folder"
        raise FileExistsError(
            f"{shard_dir} already holds this dataset and config preprocessed from {manifest.get('raw_dir')} "
            f"({was}), but the files of {raw_dir} ({source['files']} files) differ in names, sizes or "
            "modification times: preprocess into another OUT_DIR, or delete that folder to replace it")


def _remove_stale_partials(shard_dir: Path) -> None:
    """Delete temporary folders of this dataset left by runs that were killed (their PID is gone)."""
    if not shard_dir.parent.is_dir():
        return
    for old in shard_dir.parent.glob(f".{shard_dir.name}.partial-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _ShardWriter:
    """Buffers at most ``shard_rows`` samples and writes them as one shard."""

    def __init__(self, shard_dir: Path, schema, shard_rows: int) -> None:
        self.dir, self.schema, self.shard_rows = shard_dir, schema, shard_rows
        self.rows: list = []
        self.entries: list[dict] = []
        self.labels: list[int] = []
        self.sides: dict[str, list[str]] = {
            n.removeprefix("split_"): [] for n in schema.names if n.startswith("split_")
        }

    def add(self, sample: Sample, splits: dict[str, str]) -> None:
        self.rows.append((sample, splits))
        self.labels.append(sample.label)
        for name, side in splits.items():
            self.sides[name].append(side)
        if len(self.rows) >= self.shard_rows:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            path = self.dir / f"shard-{len(self.entries):05d}.parquet"
            try:
                self.entries.append(write_shard(path, rows_to_table(self.rows, self.schema)))
            except OSError as e:  # Arrow's errors (a full disk) do not name the file
                raise _naming(e, path) from e
            self.rows = []

    close = flush


class _Bar(tqdm):
    monitor_interval = 0  # no monitor thread: a single-threaded parent can fork its workers


def _run(tasks: list[Task], workers: int | None, dataset: str):
    """(samples, quarantine records) per task, in task order, on ``workers`` processes."""
    workers = max(1, workers or os.cpu_count() or 1)
    bar = {"total": len(tasks), "desc": f"preprocess {dataset}", "unit": "file", "disable": None}
    if workers == 1 or len(tasks) < 2:
        yield from _Bar(map(process_task, tasks), **bar)
        return
    ctx = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        chunk = max(1, len(tasks) // (workers * 16))
        yield from _Bar(pool.map(process_task, tasks, chunksize=chunk), **bar)


def _start_method() -> str:
    """fork when the parent runs one Python thread (workers start in ms, nothing is re-imported);
    spawn otherwise (forking a process that holds other threads, e.g. Ray's, can deadlock)."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def process_task(task: Task) -> tuple[list[Sample], list[dict]]:
    """Parse one raw file (a PKU-MMD video: all its intervals) and bring each sample to fixed size."""
    try:
        raw = task.read()
    except DatasetFormatError as e:
        return [], [e.as_record()]
    samples, errors = [], []
    for item in raw:
        if isinstance(item, DatasetFormatError):
            errors.append(item.as_record())
            continue
        try:
            samples.append(to_fixed_size(item, task.cfg, task.center0, task.shoulders0))
        except DatasetFormatError as e:
            errors.append(e.as_record())
    return samples, errors


def to_fixed_size(
    sample: Sample, cfg: PreprocessConfig, center0: int, shoulders0: tuple[int, int] = (-1, -1)
) -> Sample:
    """Centre, turn to the canonical view (``cfg.rotate``), resize over valid frames, pad bodies.

    Shape:
        sample.data: (C, T, V, M) -> (C, cfg.num_frames, V, cfg.max_bodies)
    """
    bodies = cfg.max_bodies or sample.data.shape[3]  # 0: as many as the reader gave (resolve_bodies sets it)
    data = sample.data[..., :bodies]
    present = np.abs(data).sum(axis=(0, 2)) > 0  # (T, M): body m present in frame t
    valid = present.any(axis=1)
    if not valid.any():
        raise DatasetFormatError(sample.source, None, "no body in any frame")
    if cfg.center:
        data = center_on_joint(data, present, center0)
    if cfg.rotate == "shoulders":
        data = face_forward(data, present, shoulders0)
    data = resize_frames(data[:, valid], cfg.num_frames)
    out = np.zeros((*data.shape[:3], bodies), np.float32)
    out[..., : data.shape[3]] = data
    return replace(sample, data=out)


def center_on_joint(data: np.ndarray, present: np.ndarray, center0: int) -> np.ndarray:
    """Subtract body 1's centre joint in its first present frame from every present body-frame.

    Shape:
        data: (C, T, V, M), present: (T, M) bool -> (C, T, V, M)
    """
    first = present[:, 0].argmax() if present[:, 0].any() else present.any(axis=1).argmax()
    body = 0 if present[:, 0].any() else int(present[first].argmax())
    origin = data[:, first, center0, body]  # (C,)
    return data - origin[:, None, None, None] * present[None, :, None, :]


def face_forward(data: np.ndarray, present: np.ndarray, shoulders0: tuple[int, int]) -> np.ndarray:
    """Rotate about the vertical (y) axis so that body 1's shoulder line, left to right, points along
    +x in its first present frame; every body and frame turns with it (absent ones stay zero).

    The rotation by ``theta = atan2(dz, dx)`` of the shoulder vector ``(dx, dy, dz)`` maps it to
    ``(sqrt(dx^2 + dz^2), dy, 0)``.

    Shape:
        data: (C, T, V, M), present: (T, M) bool -> (C, T, V, M)
    """
    first = present[:, 0].argmax() if present[:, 0].any() else present.any(axis=1).argmax()
    body = 0 if present[:, 0].any() else int(present[first].argmax())
    left, right = shoulders0
    dx, _, dz = data[:, first, right, body] - data[:, first, left, body]
    if dx == 0 and dz == 0:
        return data  # shoulders on one vertical line: no direction to align
    theta = np.arctan2(dz, dx)
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=np.float64)  # (C_out, C_in)
    return np.einsum("ij,jtvm->itvm", rot, data.astype(np.float64)).astype(np.float32)


def resize_frames(data: np.ndarray, num_frames: int) -> np.ndarray:
    """Linear interpolation of T frames onto ``num_frames`` evenly spaced points (T = 1 repeats).

    Shape:
        data: (C, T, V, M) -> (C, num_frames, V, M) float32
    """
    t = data.shape[1]
    pos = np.linspace(0.0, t - 1, num_frames)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).astype(np.float32)[None, :, None, None]
    return (data[:, lo] * (1 - w) + data[:, hi] * w).astype(np.float32)
