"""Where Ray Train and Tune keep their runs: a local folder on one machine, shared storage on a cluster.

On a cluster, rank 0 runs on a worker node and the chain's driver on another one, and a spot node
can vanish with its disk; Ray's answer is ``RunConfig.storage_path`` on storage every node reaches
(a cloud URI such as ``s3://bucket/prefix``, or an NFS folder). Everything here goes through
``pyarrow.fs``, which is what Ray resolves a storage path with
(``ray/train/v2/_internal/execution/storage.py``, ``get_fs_and_path``), so a URI that works for
Ray works here, including pyarrow's query options (``s3://b/p?endpoint_override=...&scheme=http``
for an S3-compatible server).

* A location is a string: a URI (``scheme://...``) kept verbatim, or a local path made absolute.
* A checkpoint's location is its storage location joined with its path under it; the driver reads
  a checkpoint by copying it from there (``fetch``) into a local cache, written under a temporary
  name and renamed, never by assuming that Ray's path is on its own disk.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pyarrow.fs

from crossmoco.datasets.atomic import atomic_path

STORAGE_ENV = "CROSSMOCO_STORAGE"  # the user's shared storage for Ray runs (a URI or an NFS folder)


def is_uri(location: str | os.PathLike[str]) -> bool:
    return "://" in str(location)


def resolve(location: str | os.PathLike[str]) -> str:
    """A URI unchanged, a local path absolute (Ray and pyarrow need one)."""
    return str(location) if is_uri(location) else str(Path(location).expanduser().resolve())


def default_storage(run_dir: Path, sub: str) -> str:
    """``$CROSSMOCO_STORAGE/<sub>`` when set, else ``<run_dir>/<sub>`` (one machine)."""
    shared = os.environ.get(STORAGE_ENV)
    return join(resolve(shared), sub) if shared else resolve(Path(run_dir) / sub)


def join(location: str, *parts: str) -> str:
    """``location`` with ``parts`` appended to its path; a URI keeps its query (pyarrow's options)."""
    base, sep, query = location.partition("?")
    path = "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])
    return path + sep + query


def filesystem(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """The pyarrow filesystem and the path on it, as Ray resolves them."""
    return pyarrow.fs.FileSystem.from_uri(resolve(location))


def exists(location: str) -> bool:
    fs, path = filesystem(location)
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def is_file(location: str) -> bool:
    fs, path = filesystem(location)
    return fs.get_file_info(path).type == pyarrow.fs.FileType.File


def location_under(storage: str, fs_path: str) -> str:
    """The location of ``fs_path`` (a path on ``storage``'s filesystem, as Ray's ``Checkpoint.path``)."""
    _, root = filesystem(storage)
    rel = PurePosixPath(fs_path).relative_to(PurePosixPath(root))
    return join(storage, rel.as_posix())


def fetch(location: str, dest: Path) -> Path:
    """A local copy of the folder at ``location`` in ``dest`` (kept if already complete): copied under
    a temporary name beside ``dest``, then renamed (``datasets.atomic``), so ``dest`` exists only complete."""
    dest = Path(dest)
    if dest.is_dir():
        return dest
    fs, path = filesystem(location)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.Directory:
        raise FileNotFoundError(f"{location}: no folder there to fetch")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(dest) as tmp:
            tmp.mkdir()
            pyarrow.fs.copy_files(path, str(tmp), source_filesystem=fs,
                                  destination_filesystem=pyarrow.fs.LocalFileSystem())
    except OSError:
        if not dest.is_dir():  # another process completed the same copy first: keep its copy
            raise
    return dest
