"""The kNN monitor of pretraining (``pretrain.knn_every``): top-1 of a weighted cosine kNN whose
bank is the training side's "fit" samples and whose queries are its "val" samples (the held-out
performers, see ``pipeline.data``). Never the test side, so monitoring cannot leak into any choice.
A pretraining on the test split trains on the whole training side, so there the queries are samples the
encoders saw without labels (a transductive reading); a supervised one saw their labels and gets no
monitor (``pipeline.worker.monitor_reads_unseen_labels``).
Features are taken as the evaluation protocols take them (BatchNorm recalibrated on clean fit
samples when ``eval.bn_recalibrate``), so the curve predicts the reported figure."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crossmoco.training.config import Config
from crossmoco.training.evaluation import extract_features, frozen_encoder, knn_scores
from crossmoco.training.modeling import DataInfo, unwrap

MAX_SAMPLES = 2000  # bounds the monitor's cost on large datasets (bank and queries each)


def make_knn_monitor(
    cfg: Config, fit: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], info: DataInfo,
    device: torch.device,
) -> Callable[[nn.Module], float] | None:  # fmt: skip
    """A function of the model returning kNN top-1 (%) on the validation samples (None if there are none)."""
    if len(val[1]) == 0 or len(fit[1]) == 0:
        return None
    rng = np.random.default_rng(cfg.seed)
    bank_idx = np.sort(rng.permutation(len(fit[1]))[:MAX_SAMPLES])
    query_idx = np.sort(rng.permutation(len(val[1]))[:MAX_SAMPLES])
    x_bank, y_bank = fit[0][bank_idx], fit[1][bank_idx]
    x_query, y_query = val[0][query_idx], val[1][query_idx]

    def monitor(model: nn.Module) -> float:
        core = unwrap(model)
        was_training = core.training
        encoder = frozen_encoder(core, x_bank, cfg, info, device)
        bank = F.normalize(torch.from_numpy(extract_features(encoder, x_bank, cfg, info, device)), dim=1)
        query = F.normalize(torch.from_numpy(extract_features(encoder, x_query, cfg, info, device)), dim=1)
        core.train(was_training)
        scores = knn_scores(bank, torch.from_numpy(y_bank), query, info.num_classes, cfg.eval.knn_k)
        return float((scores.argmax(1).numpy() == y_query).mean() * 100)

    return monitor
