"""The embedded synthetic dataset, made on demand: generated once, preprocessed once, reused."""

from __future__ import annotations

import logging
from pathlib import Path

from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.preprocess import preprocess_dataset
from crossmoco.datasets.synthetic import generate_synthetic

log = logging.getLogger(__name__)
SYNTHETIC_OVERRIDES = ("data.dataset=synthetic", "data.split=xsub")


def ensure_synthetic_shards(root: Path, preprocess: PreprocessConfig | None = None, seed: int = 0) -> Path:
    """Shards of the synthetic dataset under ``root`` (``raw/`` then ``shards/``); no work if present."""
    raw = Path(root) / "raw"
    if not (raw / "label_map.txt").is_file():
        log.info("generating the synthetic dataset in %s", raw)
        generate_synthetic(raw, seed=seed)
    return preprocess_dataset("synthetic", raw, Path(root) / "shards", preprocess or PreprocessConfig())
