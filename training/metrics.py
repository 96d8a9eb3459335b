"""Metric and tag names, in one place: the engine, the evaluation protocols, Tune's ``metric=``,
the MLflow runs and the reports."""

from __future__ import annotations

# Pretraining, per epoch (rank 0).
LOSS = "loss"
LR = "lr"
MOMENTUM = "momentum"
SAMPLES_PER_S = "samples_per_s"
EPOCH = "epoch"
KNN_MONITOR = "knn_val_top1"  # kNN top-1 (%) on the validation samples, every pretrain.knn_every epochs
KNN_INIT = "knn_val_init_top1"  # the same monitor on the initial (random) encoders, logged with epoch 1
KNN_GAIN = "pretrain_knn_val_gain"  # chain summary: last knn_val_top1 minus knn_val_init_top1
LOSS_PART_PREFIX = "loss_"  # + stream name: one stream's loss (Eq. 9)
LOSS_CHANCE = "loss_chance"  # a stream's loss when nothing is learned (all similarities equal)
LOSS_TO_CHANCE = "pretrain_loss_to_chance"  # chain summary: the lowest stream's last loss / chance (1: nothing learned)
CROSSED = "crossed"  # 1 in epochs trained with the crossed loss (Eqs. 3-5), 0 before

# Evaluation protocols: f"{protocol}_{name}", e.g. "linear_top1", "semi10_top1".
TOP1 = "top1"
TOP5 = "top5"
BEST_TOP1 = "best_epoch_top1"  # the best epoch of a curve, as the lineage prints it; reported, never selected on
TRAIN_LOSS = "train_loss"
TEST_TOP1 = "test_top1"  # per-epoch curve of a protocol


def protocol_metric(protocol: str, name: str) -> str:
    """The MLflow / Tune name of a protocol's metric, e.g. ``protocol_metric("linear", TOP1)``."""
    return f"{protocol}_{name}"


def semi_name(fraction: float) -> str:
    """Protocol label of a semi-supervised fraction: 0.01 -> "semi1", 0.1 -> "semi10"."""
    pct = fraction * 100
    return f"semi{pct:g}".replace(".", "p")


# MLflow tags of this project's runs.
ROW = "crossmoco.row"  # the table row(s) a chain reproduces, comma-separated
GIT_SHA = "crossmoco.git_sha"
CONFIG_HASH = "crossmoco.config_hash"
DATA_HASH = "crossmoco.data_hash"
DEVICE = "crossmoco.device"
PRECISION = "crossmoco.precision"  # what pretrain.precision resolved to and why (training.precision)
DATASET = "crossmoco.dataset"  # "<dataset>/<split>"
CHAIN_KEY = "crossmoco.chain_key"  # config hash, dataset hash and row of a chain's parent run: resuming finds it
STAGE = "crossmoco.stage"  # a child run's stage: pretrain, linear, semi1, ...
CHECKPOINT = "crossmoco.checkpoint"  # the checkpoint directory a pretraining wrote (or a chain evaluated)
CHECKPOINT_LOCATION = "crossmoco.checkpoint_location"  # that checkpoint on Ray's storage (a URI on a cluster)
PRETRAIN_KEY = "crossmoco.pretrain_key"  # identity of a pretraining, shared by chains differing only in eval.*
REUSED_FROM = "crossmoco.reused_from"  # the run whose finished pretraining this one reused
GRID = "crossmoco.grid"
TUNE_TRIAL = "crossmoco.tune_trial"
REPORT = "crossmoco.report"
RECORDED = "crossmoco.recorded."  # + a results file's name: the date it was written with this run's figure
LEARNING = "crossmoco.learning"  # "near chance" on a chain (and its pretraining) whose loss stayed near chance
