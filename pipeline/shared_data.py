"""A preprocessed dataset on shared storage: ``s3://bucket/prefix``, or any URI pyarrow opens.

Writing (``preprocess DATASET RAW_DIR s3://...``): the dataset is built in a local temporary
folder exactly as for a local OUT_DIR (the same shards and manifest, the same rules for a dataset
already there), then uploaded into ``<OUT>/<dataset>-<config hash>/``: the shards first,
``manifest.json`` last (under a temporary name, then moved), so a reader that sees the manifest
finds every shard it lists complete, and an interrupted upload leaves nothing a run would open.

Reading (the dataset argument of every verb, through ``pipeline.data.load_dataset``): a URI names
the dataset folder, or the OUT folder given to ``preprocess``, as a local path does. The folder is
copied once into a local cache, ``<cache>/<dataset>-<config hash>-<manifest digest>`` (written
under a temporary name and renamed, ``storage.fetch``): a second run finds it there, a changed
upload is another folder; the copy is then verified like any local folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow.fs

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.manifest import MANIFEST, preprocess_hash
from crossmoco.datasets.preprocess import Mapper, preprocess_dataset, resolve_bodies
from crossmoco.pipeline import storage as shared


def preprocess_to(
    location: str, dataset: str, raw_dir: Path, cfg: PreprocessConfig, *, workers: int | None = None,
    mapper: Mapper | None = None,
) -> str:
    """``preprocess_dataset`` into ``location`` (a URI): returns the dataset folder's location there.
    Its storage is checked before any file is parsed (an OSError naming the location)."""
    name = f"{dataset}-{preprocess_hash(dataset, resolve_bodies(dataset, cfg))[:12]}"
    target = shared.join(shared.resolve(location), name)
    fs, path = shared.filesystem(target)
    try:
        fs.create_dir(path)  # a missing bucket or an unreachable server fails here, not after the work
        published = _read(fs, f"{path}/{MANIFEST}")
    except OSError as e:
        raise OSError(f"{location}: cannot write there ({first_line(e)})") from e
    with tempfile.TemporaryDirectory(prefix="crossmoco-preprocess-") as tmp:
        local = Path(tmp) / name
        if published is not None:  # where preprocess_dataset looks for a finished dataset: its rules hold here too
            local.mkdir()
            (local / MANIFEST).write_bytes(published)
        try:
            shard_dir = preprocess_dataset(dataset, raw_dir, Path(tmp), cfg, workers=workers, mapper=mapper)
        except FileExistsError as e:  # another input's dataset is there already: name it, not the temporary copy
            raise FileExistsError(str(e).replace(str(local), target)) from None
        except DatasetFormatError as e:  # e.g. the manifest there is of an older schema
            raise DatasetFormatError(e.path.replace(str(local), target), e.line, e.reason) from None
        if published is None:
            try:
                publish(shard_dir, target)
            except OSError as e:
                raise OSError(f"{target}: upload failed ({first_line(e)}); its manifest was not written, so "
                              "no run reads it: run the same command again") from e
    return target


def publish(shard_dir: Path, location: str) -> None:
    """Upload the files of ``shard_dir`` into the folder at ``location``: the shards, then the
    manifest. Files of an unfinished upload there (no manifest: no reader uses them) are removed first."""
    fs, path = shared.filesystem(location)
    fs.delete_dir_contents(path, missing_dir_ok=True)
    files = sorted(shard_dir.iterdir(), key=lambda f: f.name == MANIFEST)  # the manifest last
    for f in files:
        dest = f"{path}/{f.name}"
        part = f"{path}/.{f.name}.tmp-{uuid.uuid4().hex[:8]}" if f.name == MANIFEST else dest
        pyarrow.fs.copy_files(str(f), part, source_filesystem=pyarrow.fs.LocalFileSystem(), destination_filesystem=fs)
        if part != dest:
            fs.move(part, dest)


def manifests_at(location: str) -> dict[str, dict]:
    """``{dataset folder location: manifest}``: ``location`` itself when it holds ``manifest.json``,
    else the folders directly under it that hold one ({} when there are none)."""
    fs, path = shared.filesystem(location)
    own = _read(fs, f"{path}/{MANIFEST}")
    if own is not None:
        return {shared.resolve(location): json.loads(own)}
    found = {}
    for info in fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True)):
        text = _read(fs, f"{info.path}/{MANIFEST}") if info.type == pyarrow.fs.FileType.Directory else None
        if text is not None:
            found[shared.join(shared.resolve(location), info.base_name)] = json.loads(text)
    return found


def fetch_dataset(location: str, cache: Path) -> Path:
    """A local copy of the dataset folder at ``location`` in ``cache``, copied the first time only."""
    fs, path = shared.filesystem(location)
    text = _read(fs, f"{path}/{MANIFEST}")
    if text is None:
        raise FileNotFoundError(f"{shared.join(location, MANIFEST)}: no manifest there")
    digest = hashlib.sha256(text).hexdigest()[:12]
    dest = shared.fetch(location, Path(cache) / f"{path.rstrip('/').rsplit('/', 1)[-1]}-{digest}")
    if (dest / MANIFEST).read_bytes() != text:  # replaced on storage while it was copied: not this key's data
        shutil.rmtree(dest, ignore_errors=True)
        raise FileNotFoundError(f"{location}: the dataset changed on storage while it was copied; run again")
    return dest


def _read(fs: pyarrow.fs.FileSystem, path: str) -> bytes | None:
    """The bytes of the file at ``path``, None when there is none."""
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read()


def first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
