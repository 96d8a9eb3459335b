"""What a chain's stages leave in their MLflow runs beside the metrics: the protocol's table and
figures (confusion matrix, curves, t-SNE), the pretraining's curves and checkpoint, and the
learning-health summary read back from a pretraining's history."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from crossmoco.pipeline import tracking
from crossmoco.pipeline.figures import plot_confusion, plot_curves, plot_pretraining, plot_tsne
from crossmoco.training import metrics as M
from crossmoco.training.checkpoints import read_state
from crossmoco.training.config import Config
from crossmoco.training.dataset import LoadedDataset
from crossmoco.training.evaluation import ProtocolResult

PRETRAIN_CURVES = [M.LOSS, M.LOSS_CHANCE, M.KNN_MONITOR, M.LR]
NEAR_CHANCE = 0.9  # every stream's last loss above this fraction of the chance level: the encoders barely learned
PREDICTIONS = "predictions.csv"  # a protocol run's per-clip predictions (artifact)


def predictions_csv(labels: np.ndarray, predictions: np.ndarray) -> str:
    """``clip,label,predicted`` (one ``predicted_<i>`` column per label subset where there are several), one
    line per evaluated clip in the evaluated side's order."""
    rows = np.atleast_2d(predictions)  # (subsets, clips)
    heads = ["predicted"] if len(rows) == 1 else [f"predicted_{i}" for i in range(len(rows))]
    lines = [",".join(["clip", "label", *heads])]
    lines += [",".join(map(str, [i, int(labels[i]), *(int(r[i]) for r in rows)])) for i in range(len(labels))]
    return "\n".join(lines) + "\n"


def log_protocol(store: tracking.Store, run_id: str, res: ProtocolResult, cfg: Config, data: LoadedDataset) -> None:
    """A protocol's metrics (and per-epoch curves), its table as ``metrics.json`` and its figures."""
    tracking.log_metrics(store, run_id, {k: round(v, 2) for k, v in res.metrics().items()})  # as tables print them
    for row in res.curves:
        tracking.log_metrics(store, run_id, {M.protocol_metric(res.protocol, k): v for k, v in row.items()
                                             if k != "epoch"}, step=int(row["epoch"]))
    table = {"protocol": res.protocol, "top1": res.top1, "top5": res.top5,
             "per_class": dict(zip(data.class_names, res.per_class, strict=True)),
             "confusion": res.confusion.tolist()}
    tracking.log_json(store, run_id, table, "metrics.json")
    if res.predictions is not None and res.test_labels is not None:
        tracking.log_text(store, run_id, predictions_csv(res.test_labels, res.predictions), PREDICTIONS)
    title = f"{res.protocol} on {cfg.data.dataset}/{cfg.data.split}: top-1 {res.top1:.1f}%"
    with tempfile.TemporaryDirectory() as tmp:
        pngs = [plot_confusion(res.confusion, data.class_names, Path(tmp) / "confusion.png", title)]
        if res.curves:
            pngs.append(plot_curves({res.protocol: res.curves}, [M.TRAIN_LOSS, M.TEST_TOP1],
                                    Path(tmp) / "curves.png", title))
        if res.test_features is not None and res.test_labels is not None and len(res.test_labels) >= 10:
            pngs.append(plot_tsne(res.test_features, np.asarray(res.test_labels), data.class_names,
                                  Path(tmp) / "tsne.png", f"t-SNE of test features ({res.protocol})", cfg.seed))
        for png in pngs:
            tracking.log_artifact(store, run_id, png, "figures")


def log_pretraining(store: tracking.Store, run_id: str, cfg: Config, ckpt: Path, location: str = "") -> None:
    """A finished pretraining's checkpoint (tags and ``checkpoint.json``: the local copy, and its
    location on Ray's storage) and its curves."""
    location = location or str(ckpt)
    tracking.set_tags(store, run_id, {M.CHECKPOINT: str(ckpt), M.CHECKPOINT_LOCATION: location})
    streams = _stream_keys(tracking.get_run(store, run_id).metrics)
    history = tracking.metric_rows(store, run_id, [*PRETRAIN_CURVES, *streams, M.SAMPLES_PER_S], step_key="epoch")
    with tempfile.TemporaryDirectory() as tmp:
        png = plot_pretraining(history, streams, M.LOSS_CHANCE, M.KNN_MONITOR, M.LR, Path(tmp) / "pretrain_curves.png",
                               f"pretraining ({cfg.data.dataset}/{cfg.data.split})")
        tracking.log_artifact(store, run_id, png, "figures")
    tracking.log_json(store, run_id, {"checkpoint": str(ckpt), "location": location,
                                       "epoch": int(read_state(ckpt)["epoch"]) + 1},
                      "checkpoint.json")


def _stream_keys(metrics: dict[str, float]) -> list[str]:
    """The per-stream loss metrics (``loss_joint``, ...) of a pretraining run."""
    return sorted(k for k in metrics if k.startswith(M.LOSS_PART_PREFIX) and k != M.LOSS_CHANCE)


def loss_to_chance(health: dict[str, float]) -> float | None:
    """The lowest stream's last loss over the chance level (1: learned nothing); None without both."""
    streams = [v for k, v in health.items() if k.startswith(M.LOSS_PART_PREFIX) and k != M.LOSS_CHANCE]
    chance = health.get(M.LOSS_CHANCE)
    return min(streams) / chance if streams and chance else None


def near_chance_note(health: dict[str, float]) -> str:
    """One line when every stream's loss stayed near chance (``NEAR_CHANCE``), else ""."""
    ratio = loss_to_chance(health)
    if ratio is None or ratio <= NEAR_CHANCE:
        return ""
    losses = ", ".join(f"{k.removeprefix(M.LOSS_PART_PREFIX)} {v:.2f}" for k, v in sorted(health.items())
                       if k.startswith(M.LOSS_PART_PREFIX) and k != M.LOSS_CHANCE)
    return (f"pretraining barely moved: every stream's loss ended near chance ({losses}; chance "
            f"{health[M.LOSS_CHANCE]:.2f}); a longer schedule (more epochs) learns more")


def learning_health(store: tracking.Store, run_id: str) -> dict[str, float]:
    """Whether a pretraining learned, from its MLflow history: each stream's last loss beside the
    loss of a model that learned nothing (``loss_chance``, the same for every stream), and the kNN
    validation top-1 of the initial (random) encoders beside the last one, with the gain."""
    metrics = tracking.get_run(store, run_id).metrics
    keys = _stream_keys(metrics)
    last = tracking.last_values(store, run_id, [*keys, M.LOSS_CHANCE, M.KNN_INIT, M.KNN_MONITOR])
    if M.KNN_INIT in last and M.KNN_MONITOR in last:
        last[M.KNN_GAIN] = last[M.KNN_MONITOR] - last[M.KNN_INIT]
    return last
