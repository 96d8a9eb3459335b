"""Where a chain's numbers come from: the commit, the device, the tags of its runs, and the
identity of a pretraining that chains differing only in their evaluation share."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path

import torch

from crossmoco.training import metrics as M
from crossmoco.training.config import Config, config_hash, to_flat_dict

# pathspecs: the outputs of ``reproduce --record`` (the figures, the generated pages and blocks)
NOT_CODE = (":(exclude)results", ":(exclude)README.md", ":(exclude)docs/results.md", ":(exclude)docs/claims.md")


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """The commit this process runs, read once (at its first chain): a long-lived driver keeps the
    code it imported, whatever the checkout moves to later. ``-dirty`` marks uncommitted changes,
    except to what ``reproduce --record`` itself writes (``results/``, the README's tables): a second
    row recorded from the same clean checkout ran the same code as the first.

    A copy of the working tree without its ``.git`` (what the device tool sends to a GPU machine) cannot
    say its commit: there ``CROSSMOCO_COMMIT`` names it (the sender's clean ``HEAD``), and is used only
    where git answers nothing, so it never overrides what a real checkout says."""
    here = Path(__file__).resolve().parent
    given = os.environ.get("CROSSMOCO_COMMIT", "").strip()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=here)
        diff = ["git", "diff", "--quiet", "HEAD", "--", ".", *NOT_CODE]
        dirty = subprocess.run(diff, capture_output=True, timeout=10, cwd=here.parent).returncode == 1
        return (sha.stdout.strip() or given or "unknown") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return given or "unknown"


def device_name(cfg: Config) -> str:
    if cfg.resources.use_gpu and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "cpu"


def chain_tags(cfg: Config, data_hash: str, row_id: str) -> dict[str, str]:
    """The tags of a chain's parent and child runs: table row, git SHA, config and data hashes, device."""
    return {M.ROW: row_id, M.GIT_SHA: git_sha(), M.CONFIG_HASH: config_hash(cfg), M.DATA_HASH: data_hash,
            M.DEVICE: device_name(cfg), M.DATASET: f"{cfg.data.dataset}/{cfg.data.split}"}


def pretrain_key(cfg: Config, data_hash: str) -> str:
    """Identity of a pretraining: every config value except the evaluation section (but ``eval.split``,
    which decides the pretraining samples), and the data.
    Chains that differ only in ``eval.*`` (e.g. Table V's linear row and Table VI's 1% / 10% rows
    on the same dataset) share one pretraining."""
    flat = {k: v for k, v in to_flat_dict(cfg).items() if not k.startswith("eval.") or k == "eval.split"}
    blob = json.dumps({"config": flat, "data": data_hash}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
