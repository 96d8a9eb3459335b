"""The pretraining loop: plain PyTorch, runs without Ray (tests) and inside a Ray Train worker.

One contrastive step follows Algorithm 1 top to bottom::

    x1, x2 = aug(x), aug(x)                      # on the worker's device, batched, every stream
    out = model(x1, x2, generator)               # queries and keys of every stream (one module)
    losses = model.loss(out, crossed=...)        # Eqs. (3)-(5) per stream (Eq. 9)
    loss = weighted_streams(losses, a_b_c)       # Eq. (10)
    backward; optimizer.step()                   # update theta_q
    model.momentum_update(m)                     # update theta_k by Eq. (1)
    model.enqueue(out)                           # keys gathered from all ranks, then FIFO

``method=supervised`` trains the classifier of every stream on one augmented view with its
labels instead (the supervised control). Learning rate and key momentum follow their schedules
per optimizer step (``training/schedule.py``).

Every epoch reports the loss, each stream's loss beside its chance level (the loss when nothing
is learned: ``log(K + 1)`` for InfoNCE, see ``models.losses.chance_loss``), lr, m and samples/s,
and every ``pretrain.knn_every`` epochs a kNN top-1 on the validation samples: a run that is not
learning shows it while it runs.

Data: each rank holds its split in memory (NumPy) and draws its own part of a seeded global
permutation every epoch (``DistributedSampler`` semantics), gathering a whole batch with one
fancy-index copy. Chosen by measurement (../shared/notes/ray-mlflow.md §1b, this machine): Ray
Data's ``get_dataset_shard`` was 5-50x slower per epoch on 2 cores and deadlocks when the train
workers hold every CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from crossmoco.datasets.augment import augment
from crossmoco.models.distributed import all_finite
from crossmoco.models.losses import weighted_streams
from crossmoco.training import metrics as M
from crossmoco.training.checkpoints import load_checkpoint, save_checkpoint
from crossmoco.training.config import Config
from crossmoco.training.modeling import (
    DataInfo,
    build_pretrain_model,
    core_of,
    stacked_streams,
    stream_names,
    stream_weights,
)
from crossmoco.training.precision import resolve_on_device
from crossmoco.training.runtime import autocast, compile_encoders_
from crossmoco.training.schedule import crossed_at, key_momentum, learning_rate

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
    monitor: Callable[[nn.Module], float] | None = None  # kNN top-1 on the validation samples


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


def one_view(x: torch.Tensor, cfg: Config, info: DataInfo, gen: torch.Generator) -> torch.Tensor:
    """``aug(x)`` for every built stream, stacked.

    ``pretrain.augment_streams``: ``per_stream`` (Algorithm 1: each stream's data x is augmented,
    each stream with its own draw) or ``joint_first`` (the joints are augmented once, then motion
    and bone are derived, as CrosSCLR's feeder does).

    Shape: ``x`` ``(N, C, T, V, M)`` joints -> ``(N, S, C, T, V, M)``.
    """
    if cfg.pretrain.augment_streams == "joint_first":
        return stacked_streams(augment(x, info.parents0, cfg.augment, gen), cfg, info)
    s = stacked_streams(x, cfg, info)  # (N, S, C, T, V, M)
    return augment(s.flatten(0, 1), info.parents0, cfg.augment, gen).view(s.shape)  # independent draws


def two_views(x: torch.Tensor, cfg: Config, info: DataInfo, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1's ``x1, x2 = aug(x), aug(x)``. Shape: ``(N, C, T, V, M)`` -> 2 x ``(N, S, C, T, V, M)``."""
    return one_view(x, cfg, info, gen), one_view(x, cfg, info, gen)


def _make_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    if o.optimizer == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=o.nesterov)


class PretrainingDiverged(RuntimeError):
    """The loss (or the weights) stopped being finite: the run stops there, every rank at the same
    step, and nothing from after it is kept (no checkpoint, no epoch row)."""


@dataclass(frozen=True)
class PretrainSummary:
    epochs_run: int
    final_loss: float
    history: list[dict[str, float]]
    checkpoint: Path | None


def run_pretraining(
    cfg: Config, x: np.ndarray, info: DataInfo, ctx: WorkerContext, y: np.ndarray | None = None
) -> PretrainSummary:
    """Pretrain on ``x`` (N, C, T, V, M) float32 (labels ``y`` for ``method=supervised``) for
    ``cfg.pretrain.epochs`` epochs, resuming from ``ctx.resume_from`` when given; report every epoch
    and checkpoint every ``checkpoint_every``."""
    if cfg.method == "random":
        raise ValueError("method=random is never trained: its chain evaluates the initial encoders")
    if cfg.method == "supervised" and y is None:
        raise ValueError("method=supervised pretrains with labels: pass y")
    cfg = resolve_on_device(cfg, ctx.device.type)  # the driver resolved auto already (pipeline.chain)
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
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64)) if cfg.method == "supervised" else None
    if labels is None and cfg.contrastive.queue_size > len(x) - cfg.pretrain.batch_size:
        log.warning("contrastive.queue_size=%d is not below the %d samples an epoch draws: a sample's own earlier "
                    "keys will sit among its negatives", cfg.contrastive.queue_size, len(x))  # fmt: skip
    history: list[dict[str, float]] = []
    epochs = cfg.pretrain.epochs
    bar = tqdm(range(start, epochs), desc="pretrain", disable=ctx.rank != 0, initial=start, total=epochs)
    ckpt_path: Path | None = None
    knn_init = None
    if ctx.monitor is not None and ctx.rank == 0 and cfg.pretrain.knn_every > 0 and start == 0:
        knn_init = ctx.monitor(model)  # the random-init reference, measured the same way as every later point
    for epoch in bar:
        began = time.perf_counter()
        gen.manual_seed(cfg.seed * 1_000_003 + epoch * 7919 + ctx.rank)  # new views every epoch
        torch.manual_seed(epoch_seed(cfg.seed, epoch, ctx.rank))  # dropout: a resumed epoch draws the same
        row = _train_epoch(cfg, model, optimizer, _Samples(x, labels, info), ctx, gen, epoch, per_rank)
        if ctx.monitor is not None and ctx.rank == 0 and cfg.pretrain.knn_every > 0 \
                and ((epoch + 1) % cfg.pretrain.knn_every == 0 or epoch + 1 == epochs):
            row[M.KNN_MONITOR] = ctx.monitor(model)
        if knn_init is not None and epoch == start:
            row[M.KNN_INIT] = knn_init
        history.append(row)
        bar.set_postfix({k: f"{row[k]:.3g}" for k in (M.LOSS, M.KNN_MONITOR, M.SAMPLES_PER_S) if k in row})
        ckpt_path = None
        if (epoch + 1) % cfg.pretrain.checkpoint_every == 0 or epoch + 1 == epochs:
            _check_weights(core, epoch)  # a last step's update can make them inf with a finite loss
            ckpt_path = save_checkpoint(ctx.checkpoint_dir, core, optimizer, epoch, cfg) if ctx.rank == 0 else None
        ctx.report(row, ckpt_path)
        if epoch == start and ctx.rank == 0 and epochs > start + 1:
            _log_eta(cfg, time.perf_counter() - began, row, epochs - start - 1)
    final = history[-1][M.LOSS] if history else float("nan")
    return PretrainSummary(len(history), final, history, ckpt_path)


def _check_weights(core: nn.Module, epoch: int) -> None:
    """Raise PretrainingDiverged before a checkpoint of non-finite weights is written (DDP keeps
    the ranks' weights equal, so every rank decides the same)."""
    bad = [name for name, p in core.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
    if bad:
        raise PretrainingDiverged(f"pretraining diverged: the weights are not finite after epoch {epoch + 1}, "
                                  f"last step ({bad[0]}, {len(bad)} tensors in all; try a lower optim.lr); "
                                  "no checkpoint of it was kept")


def _log_eta(cfg: Config, seconds: float, row: dict[str, float], left: int) -> None:
    """One line after a run's first epoch: how long it took, in which precision, and the time the rest needs."""
    speed = f", {row[M.SAMPLES_PER_S]:.3g} samples/s" if M.SAMPLES_PER_S in row else ""
    log.info("pretrain: epoch %d took %.1f s (%s%s): about %.0f min for the %d epoch%s left", int(row[M.EPOCH]),
             seconds, cfg.pretrain.precision, speed, seconds * left / 60, left, "" if left == 1 else "s")


class _Samples(NamedTuple):
    """What every epoch draws its batches from."""

    x: np.ndarray  # (N, C, T, V, M) float32
    labels: torch.Tensor | None  # (N,) int64 for method=supervised, else None
    info: DataInfo  # the skeleton the augmentations and streams read


def _train_epoch(
    cfg: Config, model: nn.Module, optimizer: torch.optim.Optimizer, samples: _Samples, ctx: WorkerContext,
    gen: torch.Generator, epoch: int, per_rank: int,
) -> dict[str, float]:  # fmt: skip
    x, labels, info = samples
    core = core_of(model)
    weights = stream_weights(cfg).to(ctx.device)
    crossed = crossed_at(cfg, epoch)
    model.train()
    steps = epoch_indices(len(x), epoch, cfg.seed, ctx.rank, ctx.world_size, per_rank)
    sums = torch.zeros(len(weights) + 1, dtype=torch.float64)
    lr = m = 0.0
    t0 = time.perf_counter()
    for i, idx in enumerate(steps):
        progress = epoch + i / len(steps)
        lr = learning_rate(cfg.optim, progress, cfg.pretrain.epochs, step=1 / len(steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = np.sort(idx)
        batch = torch.from_numpy(x[order]).to(ctx.device, non_blocking=True)
        with autocast(cfg.pretrain.precision, ctx.device.type):
            if labels is None:
                m = key_momentum(cfg.contrastive.momentum, progress, cfg.pretrain.epochs,
                                 cfg.pretrain.momentum_schedule)  # fmt: skip
                v1, v2 = two_views(batch, cfg, info, gen)
                out = model(v1, v2, gen)
                losses = core.loss(out, crossed=crossed)  # (S,)
            else:
                losses = core.loss(model(one_view(batch, cfg, info, gen)), labels[order].to(ctx.device))
        loss = weighted_streams(losses, weights)
        if not all_finite(loss.detach()):  # on any rank: stop before the update, every rank at this step
            raise PretrainingDiverged(f"pretraining diverged: the loss is not finite at epoch {epoch + 1}, step "
                                      f"{i + 1} of {len(steps)} (try a lower optim.lr, or check the data); "
                                      "no checkpoint from this epoch was kept")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if labels is None:
            core.momentum_update(m)  # Eq. (1), after the query update (Algorithm 1)
            core.enqueue(out)
        sums += torch.cat([loss.detach().reshape(1), losses.detach()]).double().cpu()
    seconds = time.perf_counter() - t0
    means = (sums / len(steps)).tolist()
    row = {M.LOSS: means[0], M.EPOCH: float(epoch + 1), M.LR: lr,
           M.SAMPLES_PER_S: len(steps) * per_rank * ctx.world_size / max(seconds, 1e-9)}  # fmt: skip
    row.update({M.LOSS_PART_PREFIX + s: v for s, v in zip(stream_names(cfg), means[1:], strict=True)})
    if labels is None:
        row[M.MOMENTUM] = m
        row[M.LOSS_CHANCE] = core.chance(crossed)
        row[M.CROSSED] = float(crossed)
    return row
