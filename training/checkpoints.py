"""Checkpoints: state dicts plus the flat config, written atomically, loaded with weights_only=True."""

from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossmoco.datasets.atomic import atomic_path, write_text_atomic
from crossmoco.training.config import Config, from_flat_dict, to_flat_dict

STATE_FILE = "state.pt"
CONFIG_FILE = "config.json"


def save_checkpoint(
    directory: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer | None, epoch: int, cfg: Config
) -> Path:
    """Write ``state.pt`` (model/optimizer state dicts, epoch) and ``config.json`` into a new
    directory (a fresh temporary one if ``directory`` is None); files appear only complete."""
    out = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="crossmoco-ckpt-"))
    out.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"model": model.state_dict(), "epoch": epoch}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    with atomic_path(out / STATE_FILE) as tmp:
        torch.save(state, tmp)
    write_text_atomic(out / CONFIG_FILE, json.dumps(to_flat_dict(cfg), indent=2, sort_keys=True))
    return out


class CheckpointError(ValueError):
    """A ``state.pt`` that cannot be used; the message names it and never suggests loading it unsafely."""


def read_state(directory: Path) -> dict[str, Any]:
    """The raw state dict of a checkpoint directory (tensors and plain values only)."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint state here")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises KeyError, RuntimeError, UnpicklingError, ... on a bad file
        if isinstance(e, pickle.UnpicklingError) and "unsupported global" in str(e).lower():  # torch's wording
            # varies: "Unsupported global: GLOBAL x.y", "Trying to load unsupported GLOBAL posix.system ..."
            raise CheckpointError(f"{path}: holds Python objects besides tensors and plain values; refused "
                                  "(loading them could run arbitrary code)") from None  # fmt: skip
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt: "
                              f"{type(e).__name__})") from None  # fmt: skip
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise CheckpointError(f"{path}: not a crossmoco checkpoint (no model state and epoch)")
    return state


def read_config(directory: Path) -> Config:
    """The configuration a checkpoint was trained with."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: a checkpoint needs its config.json")
    return from_flat_dict(json.loads(path.read_text()))


def load_checkpoint(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> int:
    """Load weights (and optimizer state) into ``model``; returns the epoch the checkpoint ended."""
    state = read_state(directory)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:  # size mismatch, missing or unexpected keys: a config.json of another model
        lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()] or [str(e)]
        more = f"; {len(lines)} differences" if len(lines) > 1 else ""
        raise CheckpointError(f"{Path(directory) / CONFIG_FILE}: describes another model than the weights in "
                              f"{STATE_FILE} ({lines[0][:200]}{more})") from None
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])
