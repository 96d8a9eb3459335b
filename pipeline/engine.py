"""The pretraining loop: plain PyTorch, runs without Ray (tests) and inside a Ray Train worker.

One step follows Algorithm 1 top to bottom::

    x1, x2 = aug(x), aug(x)                      # on the worker's device, batched (datasets/)
    out = model(x1, x2)                          # queries and keys of every stream
    parts = model.loss(out, crossed=...)         # Eqs. (3)-(5), (9)-(10)
    backward; optimizer.step()                   # update theta_q
    model.momentum_update(m)                     # update theta_k by Eq. (1)
    model.enqueue(out)                           # keys gathered from all ranks, then FIFO

Data: each rank holds its split in memory (NumPy) and draws its own part of a seeded global
permutation every epoch (``DistributedSampler`` semantics), gathering a whole batch with one
fancy-index copy. Chosen by measurement (../shared/notes/ray-mlflow.md §1b, this machine): Ray
Data's ``get_dataset_shard`` was 5-50x slower per epoch on 2 cores and deadlocks when the train
workers hold every CPU; the Parquet ``binary`` layout decodes at 45-62k rows/s, so reading a whole
NW-UCLA or NTU split into memory takes well under a second per 50k rows, after which a batch of
128 is one ~4 MB memcpy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from datasets.augment import augment
from datasets.streams import make_streams
from models.runtime import autocast, compile_encoders_
from pipeline import metrics as M
from pipeline.checkpoints import load_checkpoint, save_checkpoint
from pipeline.config import Config
from pipeline.modeling import DataInfo, build_pretrain_model, stream_names, unwrap
from pipeline.schedule import key_momentum, learning_rate

log = logging.getLogger(__name__)

Reporter = Callable[[dict[str, float], Path | None], None]


@dataclass
class WorkerContext:
    """What the loop needs to know about where it runs; Ray fills it in, tests use the defaults."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    prepare_model: Callable[[nn.Module], nn.Module] = lambda m: m
    report: Reporter = lambda metrics, ckpt: None
    resume_from: Path | None = None
    checkpoint_dir: Path | None = None  # where rank 0 writes checkpoints (a fresh temp dir if None)
    fault_hook: Callable[[int], None] = lambda epoch: None  # tests inject a crash here
    monitor: Callable[[nn.Module], float] | None = None  # kNN top-1 on held-out training samples


def epoch_indices(n: int, epoch: int, seed: int, rank: int, world: int, batch: int) -> np.ndarray:
    """This rank's sample indices for ``epoch``, as (steps, batch): a seeded global permutation split
    round-robin over ranks (``DistributedSampler``), equal step counts on every rank, last partial
    batch dropped."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    mine = perm[rank::world][: n // world]
    steps = len(mine) // batch
    if steps == 0:
        raise ValueError(f"{n} samples over {world} ranks cannot fill one batch of {batch} per rank")
    return mine[: steps * batch].reshape(steps, batch)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of torch's global generator (dropout) for one epoch on one rank: a function of
    the epoch, not of the draws before it, so a run resumed from a checkpoint repeats an
    uninterrupted run's epochs exactly (as the views' generator and the sampler do)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def two_views(x: torch.Tensor, cfg: Config, info: DataInfo, gen: torch.Generator) -> tuple[dict, dict]:
    """Algorithm 1's ``x1, x2 = aug(x), aug(x)`` for every stream, on ``x``'s device.

    Shape:
        x: (N, C, T, V, M) joints; returns two dicts stream -> (N, C, T, V, M).
    """
    names = stream_names(cfg)
    if cfg.pretrain.augment_streams == "joint_first":
        views = []
        for _ in range(2):
            xa = augment(x, info.parents0, cfg.augment, gen)
            views.append(make_streams(xa, info.parents0, names))
        return views[0], views[1]
    streams = make_streams(x, info.parents0, names)
    v1 = {k: augment(s, info.parents0, cfg.augment, gen) for k, s in streams.items()}
    v2 = {k: augment(s, info.parents0, cfg.augment, gen) for k, s in streams.items()}
    return v1, v2


def _make_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    if o.optimizer == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=o.nesterov)


@dataclass(frozen=True)
class PretrainSummary:
    epochs_run: int
    final_loss: float
    history: list[dict[str, float]]
    checkpoint: Path | None


def run_pretraining(cfg: Config, x: np.ndarray, info: DataInfo, ctx: WorkerContext) -> PretrainSummary:
    """Pretrain on ``x`` (N, C, T, V, M) float32 for ``cfg.pretrain.epochs`` epochs, resuming from
    ``ctx.resume_from`` when given; report every epoch and checkpoint every ``checkpoint_every``."""
    torch.manual_seed(cfg.seed + ctx.rank)
    core = build_pretrain_model(cfg, info).to(ctx.device)
    optimizer = _make_optimizer(cfg, core)
    start = 0
    if ctx.resume_from is not None:
        start = load_checkpoint(ctx.resume_from, core, optimizer) + 1
        log.info("rank %d resumed from %s at epoch %d", ctx.rank, ctx.resume_from, start)
    if cfg.pretrain.compile:
        compile_encoders_(core)
    model = ctx.prepare_model(core)
    gen = torch.Generator(device=ctx.device)
    per_rank = cfg.pretrain.batch_size // ctx.world_size
    if per_rank < 1:
        raise ValueError(f"pretrain.batch_size={cfg.pretrain.batch_size} < {ctx.world_size} workers")
    history: list[dict[str, float]] = []
    epochs = cfg.pretrain.epochs
    bar = tqdm(range(start, epochs), desc="pretrain", disable=ctx.rank != 0, initial=start, total=epochs)
    ckpt_path: Path | None = None
    for epoch in bar:
        gen.manual_seed(cfg.seed * 1_000_003 + epoch * 7919 + ctx.rank)  # new views every epoch
        torch.manual_seed(epoch_seed(cfg.seed, epoch, ctx.rank))  # dropout: a resumed epoch draws the same
        row = _train_epoch(cfg, model, core, optimizer, x, info, ctx, gen, epoch, per_rank)
        if ctx.monitor is not None and ctx.rank == 0 and cfg.pretrain.knn_every > 0 \
                and (epoch + 1) % cfg.pretrain.knn_every == 0:
            row[M.KNN_MONITOR] = ctx.monitor(model)
        history.append(row)
        bar.set_postfix(loss=f"{row[M.LOSS]:.4f}")
        ckpt_path = None
        if (epoch + 1) % cfg.pretrain.checkpoint_every == 0 or epoch + 1 == epochs:
            ckpt_path = save_checkpoint(ctx.checkpoint_dir, core, optimizer, epoch, cfg) if ctx.rank == 0 else None
        ctx.report(row, ckpt_path)
        ctx.fault_hook(epoch)
    final = history[-1][M.LOSS] if history else float("nan")
    return PretrainSummary(len(history), final, history, ckpt_path)


def _train_epoch(
    cfg: Config, model: nn.Module, core: nn.Module, optimizer: torch.optim.Optimizer, x: np.ndarray,
    info: DataInfo, ctx: WorkerContext, gen: torch.Generator, epoch: int, per_rank: int,
) -> dict[str, float]:
    lr = learning_rate(cfg.optim, epoch, cfg.pretrain.epochs)
    for group in optimizer.param_groups:
        group["lr"] = lr
    m = key_momentum(cfg.contrastive.momentum, epoch, cfg.pretrain.epochs, cfg.pretrain.momentum_schedule)
    crossed = epoch >= cfg.contrastive.cross_start_epoch
    model.train()
    sums: dict[str, float] = {}
    steps = epoch_indices(len(x), epoch, cfg.seed, ctx.rank, ctx.world_size, per_rank)
    t0 = time.perf_counter()
    for idx in steps:
        batch = torch.from_numpy(x[np.sort(idx)]).to(ctx.device, non_blocking=True)
        v1, v2 = two_views(batch, cfg, info, gen)
        with autocast(cfg.pretrain.precision, ctx.device.type):
            out = model(v1, v2)
            parts = unwrap(model).loss(out, crossed=crossed)
        optimizer.zero_grad(set_to_none=True)
        parts[0].backward()
        optimizer.step()
        unwrap(model).momentum_update(m)  # Eq. (1), after the query update (Algorithm 1)
        unwrap(model).enqueue(out)
        for name, value in _loss_parts(parts).items():
            sums[name] = sums.get(name, 0.0) + value
    seconds = time.perf_counter() - t0
    row = {k: v / len(steps) for k, v in sums.items()}
    row.update({M.EPOCH: float(epoch + 1), M.LR: lr, M.MOMENTUM: m,
                M.SAMPLES_PER_S: len(steps) * per_rank * ctx.world_size / max(seconds, 1e-9)})
    return row


def _loss_parts(parts: Any) -> dict[str, float]:
    """The loss (first field) and any other scalar fields of the model's typed loss value."""
    out = {M.LOSS: float(parts[0].detach())}
    for name, value in getattr(parts, "_asdict", dict)().items():
        if name == parts._fields[0]:
            continue
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            out[M.LOSS_PART_PREFIX + name] = float(value.detach())
    return out
