"""Opening a preprocessed dataset for a run: manifest checks before any work, arrays in memory.

A dataset is opened once per process: ``load_dataset`` checks the manifest, every shard's SHA-256
and the shards' rows and labels the first time, and hands the same ``LoadedDataset`` to every later
caller while the files keep their sizes and modification times (``stamp``). A Ray worker receives
the stamp the driver verified and skips the checks when its files still carry it.

Every verb that takes a dataset accepts either a shard directory (the one holding
``manifest.json``) or the folder given to ``preprocess`` as OUT_DIR, which holds one
``<dataset>-<config hash>`` directory per preprocessing; ``resolve_data_dir`` picks the one of the
asked dataset, and when there are several, the error lists them with what sets them apart. Either
may be a URI on shared storage (``s3://bucket/prefix``, ``pipeline.shared_data``): the dataset is
copied once into a local cache (the run directory's ``data/``) and verified there like any folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.loader import split_column
from crossmoco.datasets.manifest import MANIFEST, check_shards, read_manifest
from crossmoco.datasets.registry import dataset_spec, layout_for
from crossmoco.pipeline import shared_data
from crossmoco.pipeline import storage as shared
from crossmoco.training.config import Config
from crossmoco.training.dataset import VAL_FRACTION, LoadedDataset
from crossmoco.training.modeling import DataInfo

log = logging.getLogger(__name__)


class DataError(ValueError):
    """A missing, broken or mismatched dataset directory; raised before Ray starts."""


def _manifests_below(root: Path) -> dict[Path, dict]:
    """``{shard dir: manifest}`` of the preprocessed datasets directly under ``root``."""
    found = {}
    for path in sorted(root.glob(f"*/{MANIFEST}")):
        try:
            found[path.parent] = read_manifest(path.parent, verify=False)
        except (DatasetFormatError, ValueError) as e:
            log.debug("skipping %s: %s", path, e)
    return found


def _differences(manifests: dict[Path, dict]) -> dict[Path, str]:
    """What sets each preprocessing apart: the ``preprocess.*`` values that differ between them."""
    configs = {p: m.get("config") or {} for p, m in manifests.items()}
    keys = sorted({k for c in configs.values() for k in c})
    varying = [k for k in keys if len({repr(c.get(k)) for c in configs.values()}) > 1]
    return {p: ", ".join(f"preprocess.{k}={c.get(k)}" for k in varying)
            or f"{manifests[p].get('num_rows', '?')} samples from {manifests[p].get('raw_dir', '?')}"
            for p, c in configs.items()}


def resolve_data_dir(data_dir: Path, dataset: str) -> Path:
    """The shard directory of ``dataset`` that ``data_dir`` names: ``data_dir`` itself when it holds
    ``manifest.json``, else the only ``<dataset>-<hash>`` directory under it (``preprocess``'s OUT_DIR).

    Raises ``DataError`` when there is none, or several (the message lists them and their configs).
    """
    root = Path(data_dir).resolve()
    if (root / MANIFEST).is_file():
        return root
    return _pick(_manifests_below(root), dataset, str(root), str(root / MANIFEST), str(data_dir))


def resolve_shared(location: str, dataset: str) -> str:
    """``resolve_data_dir`` for a URI: the location of the dataset folder it names. Raises
    ``DataError`` naming ``location`` when it cannot be read, or holds no (or several) such datasets."""
    try:
        found = shared_data.manifests_at(location)
    except (OSError, ValueError) as e:  # unreachable, no such bucket, not a URI pyarrow knows
        raise DataError(f"{location}: cannot read it ({shared_data.first_line(e)})") from e
    if list(found) == [shared.resolve(location)]:
        return shared.resolve(location)  # the dataset folder itself
    return _pick(found, dataset, location, shared.join(location, MANIFEST), location)


def _pick(found: dict, dataset: str, root: str, manifest: str, given: str):
    """The one key of ``found`` ({folder: manifest}) whose manifest holds ``dataset``."""
    mine = {p: m for p, m in found.items() if m.get("dataset") == dataset}
    if len(mine) == 1:
        (shard_dir,) = mine
        log.debug("%s: using the %s dataset in %s", root, dataset, shard_dir)
        return shard_dir
    if mine:
        listed = "; ".join(f"{p} ({d})" for p, d in _differences(mine).items())
        raise DataError(f"{root}: holds {len(mine)} {dataset} datasets, preprocessed with different configs; "
                        f"give one of them: {listed}")
    others = sorted({str(m.get("dataset")) for m in found.values()})
    held = f"; it holds {', '.join(others)} (choose with --set data.dataset=...)" if others else ""
    raise DataError(f"{manifest}: no manifest, and no {dataset} dataset in {root}; run "
                    f"`python -m crossmoco preprocess {dataset} RAW_DIR {given}` first{held}")


_OPENED: dict[tuple, LoadedDataset] = {}  # (shard dir, dataset, split, validation choice) -> the opened one


def files_stamp(root: Path) -> str:
    """A digest of the name, size and modification time of the manifest and every shard file: a
    changed, added or removed file changes it (one stat per file, nothing read)."""
    files = [root / MANIFEST, *sorted(root.glob("*.parquet"))]
    rows = [[f.name, st.st_size, st.st_mtime_ns] for f in files if f.is_file() for st in [f.stat()]]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def load_dataset(data_dir: str | Path, cfg: Config, *, verified: str = "", cache: Path | None = None) -> LoadedDataset:
    """Open the shards of ``cfg.data`` in ``data_dir`` (see ``resolve_data_dir``), verifying them the
    first time this process opens them, or unless their files still carry the stamp ``verified``
    (the driver's, handed to a worker). A URI is copied into ``cache`` first (default: a folder in
    the temporary directory), once (``pipeline.shared_data``)."""
    source = ""
    if shared.is_uri(data_dir):
        source = resolve_shared(str(data_dir), cfg.data.dataset)
        root = local_copy(source, cache or Path(tempfile.gettempdir()) / "crossmoco-data")
    else:
        root = resolve_data_dir(Path(data_dir), cfg.data.dataset)
    key = (root, cfg.data.dataset, cfg.data.split, cfg.data.val_by, cfg.data.val_performers, cfg.data.val_cameras)
    stamp = files_stamp(root)
    opened = _OPENED.get(key)
    if opened is not None and opened.stamp == stamp:
        return opened
    data = _open(root, cfg, stamp, verify=stamp != verified, source=source)
    _OPENED[key] = data
    return data


def local_copy(source: str, cache: Path) -> Path:
    """The local copy of the dataset folder ``source`` (a URI) in ``cache``, fetched if missing."""
    try:
        return shared_data.fetch_dataset(source, cache)
    except OSError as e:
        raise DataError(f"{source}: cannot copy it to {cache} ({shared_data.first_line(e)})") from e


def _open(root: Path, cfg: Config, stamp: str, *, verify: bool, source: str = "") -> LoadedDataset:
    path = root / MANIFEST
    try:
        manifest = read_manifest(root, verify=verify)  # schema version, and every shard's SHA-256
    except (DatasetFormatError, ValueError, OSError) as e:
        raise DataError(str(e)) from e
    except KeyError as e:
        raise DataError(f"{path}: the manifest has no {e} entry; preprocess again") from e
    dataset = manifest.get("dataset")
    if dataset != cfg.data.dataset:
        raise DataError(f"{path}: holds dataset {dataset!r} but the config asks for data.dataset="
                        f"{cfg.data.dataset!r} (set --set data.dataset={dataset})")
    splits = manifest.get("splits") or {}
    if cfg.data.split not in splits:
        raise DataError(f"{path}: dataset {dataset!r} has no split {cfg.data.split!r}; it has {sorted(splits)}")
    names = tuple(manifest.get("class_names") or ())
    num_classes = int(manifest.get("num_classes") or len(names))
    hands = (manifest.get("config") or {}).get("hands", "chain")
    layout = layout_for(dataset, hands)
    shape = manifest.get("shape")
    if not (isinstance(shape, list) and len(shape) == 4 and shape[0] == 3 and shape[2] == layout.num_joints):
        raise DataError(f"{path}: shape {shape!r} is not (3, T, {layout.num_joints}, M), the (C, T, V, M) of "
                        f"{dataset}'s {layout.num_joints} joints; preprocess again")
    try:
        if verify:
            check_shards(root, manifest)  # rows, num_rows, counts, labels, shapes, finite values
    except (DatasetFormatError, ValueError, OSError) as e:
        raise DataError(str(e)) from e
    except KeyError as e:
        raise DataError(f"{path}: the manifest has no {e} entry; preprocess again") from e
    info = DataInfo.of(dataset, layout, num_classes, str(manifest.get("config_hash", ""))[:12])
    names = names or tuple(str(i) for i in range(num_classes))
    column = cfg.data.val_by
    try:
        ids = split_column(root, cfg.data.split, "train", column)
    except (KeyError, ValueError) as e:  # pyarrow: ArrowInvalid (a ValueError) for a missing column
        raise DataError(f"{path}: the shards have no {column!r} column for data.val_by={column}") from e
    if column == "camera":
        try:
            val = validation_cameras(ids, cfg.data.val_cameras)
        except DataError as e:
            raise DataError(f"{path}: {e}") from None
    else:
        val = validation_performers(ids, cfg.data.val_performers)
    return LoadedDataset(root, cfg.data.split, info, names, val, stamp, source, column)


def validation_cameras(cameras: np.ndarray, chosen: tuple[int, ...]) -> tuple[int, ...]:
    """The cameras (views) whose training-side samples form the validation subset (``data.val_by=camera``):
    ``chosen``, or by default the highest camera id of the training side (NW-UCLA xview: view 2; NTU
    xview: camera 3). A training side with a single camera (NTU xsub has three; a dataset without cameras
    reads one id everywhere) is an error, not the random split ``LoadedDataset.arrays`` falls back to
    without ids: an unseen camera is what was asked, and a random 30% would read the seen ones."""
    ids = sorted(int(c) for c in np.unique(cameras))
    if len(ids) < 2:
        raise DataError(f"data.val_by=camera: the training side has a single camera {ids}, nothing to hold out; "
                        "use data.val_by=performer")
    if chosen:
        unknown = sorted(set(chosen) - set(ids))
        if unknown:
            raise DataError(f"data.val_cameras {list(chosen)}: the training side has no camera {unknown}; it has {ids}")
        if set(chosen) >= set(ids):
            raise DataError(f"data.val_cameras {list(chosen)} holds out every camera of the training side; keep one")
        return tuple(sorted(chosen))
    return (ids[-1],)


def validation_performers(performers: np.ndarray, chosen: tuple[int, ...]) -> tuple[int, ...]:
    """The performers whose training-side samples form the validation subset: ``chosen``, or by
    default the last ``VAL_FRACTION`` of the training side's performer ids (NW-UCLA: subjects 8-10
    of views 1-2), at least one and never all; () when the dataset names no performers."""
    ids = sorted(int(p) for p in np.unique(performers))
    if chosen:
        return tuple(sorted(chosen))
    if len(ids) < 2:
        return ()
    count = min(len(ids) - 1, max(1, round(VAL_FRACTION * len(ids))))
    return tuple(ids[-count:])


def inferred_overrides(data_dir: str | Path) -> tuple[str, ...]:
    """``data.dataset=<d>`` and ``data.split=<its default>`` when ``data_dir`` (a shard directory, or
    preprocess's OUT_DIR, or a URI of either) holds exactly one dataset; () when it holds several or
    none, or cannot be read (then ``load_dataset`` says why, naming the folder). The default split is
    the first of the registry's splits (NTU xsub, NW-UCLA xview) that the manifest holds. The CLI puts
    these before the user's own overrides, so ``--set data.dataset=...`` still wins."""
    try:
        if shared.is_uri(data_dir):
            found = shared_data.manifests_at(str(data_dir))
        else:
            root = Path(data_dir)
            found = {root: read_manifest(root, verify=False)} if (root / MANIFEST).is_file() \
                else _manifests_below(root)
    except (OSError, ValueError, DatasetFormatError) as e:
        log.debug("%s: not inferring the dataset (%s)", data_dir, e)
        return ()
    names = {str(m.get("dataset")) for m in found.values()}
    if len(names) != 1:
        return ()
    (name,) = names
    held = [s for m in found.values() for s in (m.get("splits") or {})]
    try:
        known = dataset_spec(name).splits
    except ValueError:  # an unknown dataset name: load_dataset's error says so
        return ()
    split = next((s for s in known if s in held), held[0] if held else "")
    return (f"data.dataset={name}",) + ((f"data.split={split}",) if split else ())

