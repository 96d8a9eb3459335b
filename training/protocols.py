"""The evaluation stages of a chain: which run (``protocol_stages``) and running one on a
checkpoint in this process (``run_protocol``)."""

from __future__ import annotations

from pathlib import Path

import torch

from crossmoco.training import metrics as M
from crossmoco.training.checkpoints import load_checkpoint
from crossmoco.training.config import Config
from crossmoco.training.dataset import LoadedDataset
from crossmoco.training.evaluation import (
    ProtocolResult,
    finetune_protocol,
    knn_protocol,
    linear_protocol,
    semi_protocol,
)
from crossmoco.training.modeling import build_pretrain_model
from crossmoco.training.runtime import local_device

PROTOCOLS = {"linear": linear_protocol, "finetune": finetune_protocol, "knn": knn_protocol}  # semi: per fraction


def protocol_stages(cfg: Config) -> list[str]:
    """Stage names of the configured protocols: 'semi' expands to one stage per label fraction."""
    out: list[str] = []
    for p in cfg.eval.protocols:
        out.extend(M.semi_name(f) for f in cfg.eval.semi_fractions) if p == "semi" else out.append(p)
    return out


def load_model(cfg: Config, data: LoadedDataset, checkpoint: Path | None) -> torch.nn.Module:
    """The pretrained model of a checkpoint (or the seeded initial one for ``method=random``)."""
    torch.manual_seed(cfg.seed)
    model = build_pretrain_model(cfg, data.info)
    if checkpoint is not None:
        load_checkpoint(checkpoint, model)
    return model


def run_protocol(stage: str, cfg: Config, data: LoadedDataset, checkpoint: Path | None) -> ProtocolResult:
    """One evaluation protocol on a checkpoint, in-process."""
    fractions = {M.semi_name(f): f for f in cfg.eval.semi_fractions}
    if stage not in PROTOCOLS and stage not in fractions:
        if stage.startswith("semi"):
            raise ValueError(f"unknown semi-supervised stage {stage!r}; configured: {sorted(fractions)}")
        raise ValueError(f"unknown protocol {stage!r}")
    device = local_device(cfg.resources.use_gpu)
    model = load_model(cfg, data, checkpoint).to(device)
    train, test = (data.arrays(side) for side in data.eval_sides(cfg.eval.split))
    if stage in fractions:
        return semi_protocol(model, train, test, cfg, data.info, device, fractions[stage])
    return PROTOCOLS[stage](model, train, test, cfg, data.info, device)
