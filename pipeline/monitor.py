"""The optional kNN monitor of pretraining (``pretrain.knn_every``): top-1 of a weighted cosine kNN
whose bank is 80% of a seeded subset of the training split and whose queries are the other 20%.
Held-out training samples, never the test split, so monitoring cannot leak into model selection."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import Config
from pipeline.evaluation import extract_features, knn_scores
from pipeline.modeling import DataInfo, unwrap

MAX_SAMPLES = 2000  # bounds the monitor's cost on large datasets


def make_knn_monitor(
    cfg: Config, x: np.ndarray, y: np.ndarray, info: DataInfo, device: torch.device
) -> Callable[[nn.Module], float]:
    """A function of the model returning kNN top-1 (%) on the held-out part of a training subset."""
    rng = np.random.default_rng(cfg.seed)
    idx = rng.permutation(len(x))[:MAX_SAMPLES]
    cut = int(0.8 * len(idx))
    bank_idx, query_idx = np.sort(idx[:cut]), np.sort(idx[cut:])

    def monitor(model: nn.Module) -> float:
        core = unwrap(model)
        was_training = core.training
        bank = F.normalize(torch.from_numpy(extract_features(core, x[bank_idx], cfg, info, device)), dim=1)
        query = F.normalize(torch.from_numpy(extract_features(core, x[query_idx], cfg, info, device)), dim=1)
        core.train(was_training)
        scores = knn_scores(bank, torch.from_numpy(y[bank_idx]), query, info.num_classes, cfg.eval.knn_k)
        return float((scores.argmax(1).numpy() == y[query_idx]).mean() * 100)

    return monitor
