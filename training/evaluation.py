"""Evaluation protocols of §IV-B: linear, semi-supervised, fine-tuned and kNN.

Each protocol is a plain function of (pretrained model, train arrays, test arrays, config) that runs
in-process; ``pipeline/chain.py`` calls it in the driver or as a Ray task. Which features the
classifier sees (ST-GCN, ST-MLP or both; one stream or the combination) is ``cfg.eval``.

* linear: encoders frozen ("we freeze two encoders"); features are extracted once (eval mode, no
  augmentation), standardised with the training set's mean and std (``eval.linear_standardize``,
  a non-affine BatchNorm as in MAE's linear probe), then a linear layer with softmax cross-entropy is trained for
  ``eval.linear_epochs`` at ``eval.linear_lr`` (SGD, momentum 0.9, ``eval.linear_weight_decay``, lr schedule
  ``eval.linear_schedule``), as in the CrosSCLR lineage.
* finetune: a linear classifier on the encoders, all trained together for ``eval.finetune_epochs``
  at ``eval.finetune_lr``. The paper's lr 1e-4 does not name an optimiser; we use Adam, with which
  1e-4 is a usual fine-tuning rate (SGD at 1e-4 barely moves in 100 epochs).
  ``eval.finetune_start=linear_probe`` (the smoke profile) starts from the linear probe, its
  feature standardisation included, and keeps the encoders' normalisation as pretrained (LP-FT);
  ``eval.finetune_encoder_lr_scale`` scales the encoders' lr against the head's.
* semi: fine-tuning on a class-stratified, seeded fraction of the training labels (1%, 10%).
* knn: cosine-similarity k-nearest neighbours on L2-normalised frozen features, votes weighted by
  exp(similarity / 0.07) (the InstDisc monitor).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from crossmoco.models.classifier import Classifier
from crossmoco.models.heads import GroupedLinear
from crossmoco.training import metrics as M
from crossmoco.training.config import Config
from crossmoco.training.modeling import DataInfo, eval_streams, model_features, unwrap

log = logging.getLogger(__name__)
KNN_TEMPERATURE = 0.07


@dataclass
class ProtocolResult:
    """Metrics of one protocol, its per-epoch curves and what the figures need."""

    protocol: str
    top1: float
    top5: float
    per_class: list[float]
    confusion: np.ndarray
    curves: list[dict[str, float]] = field(default_factory=list)
    test_features: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)  # e.g. each label subset's top-1 (semi)
    # each evaluated clip's predicted class, in the evaluated side's order (semi with several label subsets:
    # one row per subset): kept beside a figure so paired comparisons can resample clips (experiments/claims.py)
    predictions: np.ndarray | None = None

    def metrics(self) -> dict[str, float]:
        name = self.protocol
        out = {M.protocol_metric(name, M.TOP1): self.top1, M.protocol_metric(name, M.TOP5): self.top5}
        out.update(self.extra)
        curve = [row[M.TEST_TOP1] for row in self.curves if M.TEST_TOP1 in row]
        if curve:  # labelled, never selected on: the figure is the last epoch's
            out[M.protocol_metric(name, M.BEST_TOP1)] = max(curve)
        return out


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded, class-stratified ``fraction`` of ``labels`` (at least one per class)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = max(1, round(fraction * len(idx)))
        chosen.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def scores(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[float, float, list[float], np.ndarray]:
    """top-1 and top-5 accuracy (%), per-class accuracy (%) and the confusion matrix (rows = truth)."""
    order = np.argsort(-logits, axis=1)
    top1 = float(np.mean(order[:, 0] == labels) * 100)
    top5 = float(np.mean(np.any(order[:, : min(5, num_classes)] == labels[:, None], axis=1)) * 100)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, order[:, 0]), 1)
    totals = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / totals[c] * 100) if totals[c] else float("nan") for c in range(num_classes)]
    return top1, top5, per_class, confusion


@torch.no_grad()
def extract_features(model: nn.Module, x: np.ndarray, cfg: Config, info: DataInfo, device: torch.device) -> np.ndarray:
    """Frozen features of every sample (eval mode, no augmentation). Shape: (N, C, T, V, M) -> (N, D)."""
    model.eval()
    out = []
    for i in range(0, len(x), cfg.eval.batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(x[i : i + cfg.eval.batch_size])).to(device)
        out.append(model_features(model, batch, cfg, info).float().cpu())
    return torch.cat(out).numpy()


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, x: np.ndarray, cfg: Config, info: DataInfo, device: torch.device
) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are recomputed on clean samples ``x``.

    Pretraining sees only augmented input (the occlusion mask zeroes most joint-frames), so its
    running statistics describe masked data, while every protocol feeds clean data: measured on
    NW-UCLA validation, features with the pretraining statistics lost up to 15 points of kNN
    accuracy against the same weights with recalibrated statistics. The recalibration is an exact
    average over ``x`` (``momentum=None``), no labels, no weight changes ("precise BN", Wu & Johnson
    2021); a random-init model gets the same treatment, so the control is measured the same way.
    """
    copy_ = copy.deepcopy(unwrap(model)).to(device).eval()
    norms = [m for m in copy_.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
        bn.train()
    for i in range(0, len(x), cfg.eval.batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(x[i : i + cfg.eval.batch_size])).to(device)
        model_features(copy_, batch, cfg, info)
    return copy_.eval()


def frozen_encoder(
    model: nn.Module, x_train: np.ndarray, cfg: Config, info: DataInfo, device: torch.device
) -> nn.Module:
    """The model the frozen-feature protocols read: recalibrated on ``x_train`` when ``eval.bn_recalibrate``."""
    if cfg.eval.bn_recalibrate:
        return recalibrate_batchnorm(model, x_train, cfg, info, device)
    return unwrap(model)


class EnsembleHead(nn.Module):
    """``eval.combine=ensemble``: one linear classifier per stream over that stream's part of the
    concatenated features. Shape: ``(N, S*F)`` -> logits ``(N, S, classes)``."""

    def __init__(self, streams: int, dim: int, num_classes: int) -> None:
        super().__init__()
        if dim % streams:
            raise ValueError(f"{dim} features do not split into {streams} streams")
        self.streams = streams
        self.fc = GroupedLinear(streams, dim // streams, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(x.shape[0], self.streams, -1))


def make_head(dim: int, cfg: Config, info: DataInfo) -> nn.Module:
    """The protocols' classifier over ``dim`` features: a linear layer, or ``EnsembleHead`` per ``eval.combine``."""
    if cfg.eval.combine == "ensemble":
        return EnsembleHead(eval_streams(cfg), dim, info.num_classes)
    return nn.Linear(dim, info.num_classes)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; for per-stream logits ``(N, S, classes)`` the sum of the streams' (each head's
    gradient is then what it would be trained alone)."""
    if logits.dim() == 3:
        return Classifier.loss(logits, labels).sum()  # the supervised control's per-stream cross-entropy
    return F.cross_entropy(logits, labels)


def class_scores(logits: torch.Tensor) -> torch.Tensor:
    """What a prediction ranks: the logits, or for per-stream logits the summed softmax scores (the
    lineage's 3s ensemble). Shape: ``(N, classes)`` or ``(N, S, classes)`` -> ``(N, classes)``."""
    return Classifier.scores(logits) if logits.dim() == 3 else logits.float()


@dataclass(frozen=True)
class Epochs:
    """How a classifier's minibatches run: ``epochs`` passes in batches of ``batch``, shuffled by
    ``seed``; the test accuracy every ``every`` epochs and at the last; ``desc`` labels the progress bar."""

    epochs: int
    batch: int
    seed: int
    desc: str
    every: int = 1


def _train_classifier(
    forward: Callable[[torch.Tensor], torch.Tensor], train_modules: list[nn.Module],
    optimizer: torch.optim.Optimizer, train: tuple[np.ndarray, np.ndarray], evaluate: Callable[[], float],
    run: Epochs, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> list[dict[str, float]]:
    """Minibatch cross-entropy training of ``train_modules`` (put in train mode each epoch) with a
    test-accuracy curve per epoch (``scheduler`` steps per epoch)."""
    xs, ys = train
    epochs, batch, every = run.epochs, run.batch, run.every
    rng = np.random.default_rng(run.seed)
    curves = []
    for epoch in tqdm(range(epochs), desc=run.desc, leave=False):
        for m in train_modules:
            m.train()
        perm = rng.permutation(len(xs))
        total, n = 0.0, 0
        for i in range(0, len(perm), batch):
            idx = np.sort(perm[i : i + batch])
            logits = forward(torch.from_numpy(np.ascontiguousarray(xs[idx])))
            loss = classification_loss(logits, torch.from_numpy(ys[idx]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, n = total + float(loss.detach()) * len(idx), n + len(idx)
        row = {"epoch": float(epoch + 1), M.TRAIN_LOSS: total / max(n, 1)}
        if scheduler is not None:
            scheduler.step()
        if (epoch + 1) % every == 0 or epoch + 1 == epochs:
            row[M.TEST_TOP1] = evaluate()
        curves.append(row)
    return curves


def linear_schedule(optimizer: torch.optim.Optimizer, cfg: Config) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The linear probe's per-epoch lr schedule, ``eval.linear_schedule``. §IV-B gives only "100 epochs with a
    learning rate 0.1": "constant" reads it literally; "step" is CrosSCLR's linear evaluation (lr x0.1 at
    epoch 80 of 100, ``config/linear_eval/linear_eval_crossclr_3views_xview.yaml``), placed at 80% of
    ``eval.linear_epochs``; "cosine" anneals to 0 over the epochs."""
    epochs, kind = cfg.eval.linear_epochs, cfg.eval.linear_schedule
    if kind == "constant":
        return None
    if kind == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[max(1, round(0.8 * epochs))], gamma=0.1)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    raise ValueError(f"unknown eval.linear_schedule {kind!r}; expected 'constant', 'step' or 'cosine'")


def _linear_probe(dim: int, cfg: Config, info: DataInfo):
    """A seeded linear layer with its SGD optimiser and lr schedule (§IV-B; ``eval.linear_*``)."""
    torch.manual_seed(cfg.seed)
    head = make_head(dim, cfg, info)
    opt = torch.optim.SGD(head.parameters(), lr=cfg.eval.linear_lr, momentum=0.9,
                          weight_decay=cfg.eval.linear_weight_decay)
    return head, opt, linear_schedule(opt, cfg)


def linear_protocol(model: nn.Module, train, test, cfg: Config, info: DataInfo, device: torch.device) -> ProtocolResult:
    """Frozen encoders + a linear softmax classifier (§IV-B: 100 epochs, lr 0.1; weight decay and schedule,
    which §IV-B does not give, are ``eval.linear_weight_decay`` and ``eval.linear_schedule``). The figure is
    the last epoch's; the best epoch's is logged beside it, labelled (the lineage's processors print the
    best, which selects on the test side), never used for a choice."""
    encoder = frozen_encoder(model, train[0], cfg, info, device)
    f_train = extract_features(encoder, train[0], cfg, info, device)
    f_test = extract_features(encoder, test[0], cfg, info, device)
    if cfg.eval.linear_standardize:
        mean, std = f_train.mean(axis=0), f_train.std(axis=0) + 1e-6
        f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
    head, opt, sched = _linear_probe(f_train.shape[1], cfg, info)
    t_test = torch.from_numpy(f_test)

    def evaluate() -> float:
        with torch.no_grad():
            return float((class_scores(head(t_test)).argmax(1).numpy() == test[1]).mean() * 100)

    curves = _train_classifier(head, [head], opt, (f_train, train[1]), evaluate,
                               Epochs(cfg.eval.linear_epochs, cfg.eval.batch_size, cfg.seed, "linear"), sched)
    with torch.no_grad():
        logits = class_scores(head(t_test)).numpy()
    return _result("linear", logits, test[1], info, curves, f_test)


class _Classifier(nn.Module):
    """Encoders (trainable) -> features -> (standardised) -> linear layer: the fine-tune and
    semi-supervised model. The standardisation is identity unless it starts from the probe."""

    mean: torch.Tensor  # buffers: the train features' mean and std (0 and 1 unless from the probe)
    std: torch.Tensor

    def __init__(self, model: nn.Module, cfg: Config, info: DataInfo, dim: int) -> None:
        super().__init__()
        self.model, self.cfg, self.info = model, cfg, info
        self.head = make_head(dim, cfg, info)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = model_features(self.model, x, self.cfg, self.info)
        return self.head((features - self.mean) / self.std)


def _start_from_probe(clf: _Classifier, train, cfg: Config, info: DataInfo, device: torch.device) -> None:
    """LP-FT's first step: the linear probe, fit exactly as ``linear_protocol`` fits it, becomes
    ``clf.head``, and its standardisation (the train features' mean and std) ``clf``'s; the encoders
    start with the probe's BatchNorm statistics (recalibrated when ``eval.bn_recalibrate``)."""
    clf.model = frozen_encoder(clf.model, train[0], cfg, info, device)
    feats = extract_features(clf.model, train[0], cfg, info, device)
    if cfg.eval.linear_standardize:
        clf.mean.copy_(torch.from_numpy(feats.mean(axis=0)))
        clf.std.copy_(torch.from_numpy(feats.std(axis=0) + 1e-6))
    scaled = (feats - clf.mean.cpu().numpy()) / clf.std.cpu().numpy()
    probe, opt, sched = _linear_probe(feats.shape[1], cfg, info)
    _train_classifier(probe, [probe], opt, (scaled, train[1]), lambda: float("nan"),
                      Epochs(cfg.eval.linear_epochs, cfg.eval.batch_size, cfg.seed, "probe", every=10**9), sched)
    clf.head.load_state_dict(probe.state_dict())


@dataclass(frozen=True)
class Finetune:
    """A fine-tuning run's name, epochs and lr: the ``finetune`` protocol's (``eval.finetune_*``), or a
    semi-supervised stage's."""

    name: str = "finetune"
    epochs: int | None = None  # None (or 0): eval.finetune_epochs
    lr: float | None = None  # None: eval.finetune_lr


def finetune_protocol(
    model: nn.Module, train, test, cfg: Config, info: DataInfo, device: torch.device, run: Finetune = Finetune()
) -> ProtocolResult:
    """The whole model trained with a linear classifier on labelled data (§IV-B: 100 epochs, lr 1e-4)."""
    name, epochs, lr = run.name, run.epochs, run.lr
    model = copy.deepcopy(model)
    dim = extract_features(model, train[0][:2], cfg, info, device).shape[1]
    torch.manual_seed(cfg.seed)
    clf = _Classifier(model, cfg, info, dim).to(device)
    from_probe = cfg.eval.finetune_start == "linear_probe"
    if from_probe:
        _start_from_probe(clf, train, cfg, info, device)
        clf.eval()  # the encoders keep their pretrained normalisation; only the head ever enters train()
    head = list(clf.head.parameters())
    encoders = [p for p in clf.model.parameters() if p.requires_grad]
    base = lr if lr is not None else cfg.eval.finetune_lr
    opt = torch.optim.Adam([{"params": encoders, "lr": base * cfg.eval.finetune_encoder_lr_scale},
                            {"params": head, "lr": base}])

    def forward(x: torch.Tensor) -> torch.Tensor:
        return clf(x.to(device))

    def logits_of(x: np.ndarray) -> np.ndarray:
        clf.eval()
        with torch.no_grad():
            parts = [class_scores(forward(torch.from_numpy(np.ascontiguousarray(x[i : i + cfg.eval.batch_size])))).cpu()
                     for i in range(0, len(x), cfg.eval.batch_size)]
        return torch.cat(parts).numpy()

    last: list[np.ndarray] = []  # the latest curve point's logits: the last epoch always has one

    def evaluate() -> float:
        last[:] = [logits_of(test[0])]
        return float((last[0].argmax(1) == test[1]).mean() * 100)

    curves = _train_classifier(forward, [clf.head] if from_probe else [clf], opt, train, evaluate,
                               Epochs(epochs or cfg.eval.finetune_epochs, cfg.eval.batch_size, cfg.seed, name,
                                      every=cfg.eval.eval_every))
    return _result(name, last[0] if curves else logits_of(test[0]), test[1], info, curves, None)


def semi_protocol(model, train, test, cfg: Config, info: DataInfo, device, fraction: float) -> ProtocolResult:
    """Fine-tuning on a class-stratified, seeded ``fraction`` of the labels (Table VI).

    With ``eval.semi_subsets`` = n > 1 it fine-tunes on n subsets (subset i is the n = 1 run with seed
    ``seed + i``: its labels and its head's initialisation, from the same pretrained model) and reports
    their mean top-1 / top-5 / per-class accuracy, the summed confusion matrix and the mean curve; each
    subset's top-1 and their standard deviation are logged beside.
    """
    name = M.semi_name(fraction)
    results = []
    for i in range(cfg.eval.semi_subsets):
        run_cfg = dataclasses.replace(cfg, seed=cfg.seed + i)  # subset i is the n = 1 run with seed + i
        idx = stratified_subset(train[1], fraction, run_cfg.seed)
        log.info("semi-supervised %.0f%%, subset %d/%d: %d labelled samples of %d", fraction * 100, i + 1,
                 cfg.eval.semi_subsets, len(idx), len(train[1]))  # fmt: skip
        subset = (train[0][idx], train[1][idx])
        results.append(finetune_protocol(model, subset, test, run_cfg, info, device,
                                         Finetune(name, cfg.eval.semi_epochs, cfg.eval.semi_lr)))
    return results[0] if len(results) == 1 else mean_of_subsets(name, results)


def mean_of_subsets(name: str, results: list[ProtocolResult]) -> ProtocolResult:
    """One result from several label subsets' results of the same protocol: means, summed confusion."""
    top1 = np.array([r.top1 for r in results])
    curves = [{k: float(np.mean([r.curves[e][k] for r in results])) for k in results[0].curves[e]}
              for e in range(min(len(r.curves) for r in results))]  # fmt: skip
    extra = {f"{name}_subset{i}_top1": float(r.top1) for i, r in enumerate(results)}
    extra[f"{name}_subset_std_top1"] = float(top1.std(ddof=1))
    predictions = (np.stack([r.predictions for r in results if r.predictions is not None])  # (subsets, clips)
                   if all(r.predictions is not None for r in results) else None)
    return ProtocolResult(
        name, float(top1.mean()), float(np.mean([r.top5 for r in results])),
        np.mean([r.per_class for r in results], axis=0).tolist(), np.sum([r.confusion for r in results], axis=0),
        curves, None, results[0].test_labels, extra, predictions,
    )  # fmt: skip


def knn_protocol(model, train, test, cfg: Config, info: DataInfo, device) -> ProtocolResult:
    """Weighted cosine kNN on frozen features (no training)."""
    encoder = frozen_encoder(model, train[0], cfg, info, device)
    f_train = F.normalize(torch.from_numpy(extract_features(encoder, train[0], cfg, info, device)), dim=1)
    f_test = F.normalize(torch.from_numpy(extract_features(encoder, test[0], cfg, info, device)), dim=1)
    logits = knn_scores(f_train, torch.from_numpy(train[1]), f_test, info.num_classes, cfg.eval.knn_k)
    return _result("knn", logits.numpy(), test[1], info, [], f_test.numpy())


def knn_scores(
    bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, num_classes: int, k: int
) -> torch.Tensor:
    """Class scores (Q, classes) of L2-normalised ``queries`` against a labelled ``bank`` (B, D)."""
    sim = queries @ bank.T
    top, idx = sim.topk(min(k, bank.shape[0]), dim=1)
    votes = torch.zeros(queries.shape[0], num_classes)
    votes.scatter_add_(1, bank_labels[idx].long(), (top / KNN_TEMPERATURE).exp())
    return votes


def _result(name, logits, labels, info: DataInfo, curves, feats) -> ProtocolResult:
    top1, top5, per_class, confusion = scores(logits, labels, info.num_classes)
    if not math.isfinite(top1):
        raise RuntimeError(f"{name}: evaluation produced no finite accuracy")
    predicted = np.argsort(-logits, axis=1)[:, 0]  # the class top-1 counts (scores' order, ties alike)
    return ProtocolResult(name, top1, top5, per_class, confusion, curves, feats, labels, predictions=predicted)
