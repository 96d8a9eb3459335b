"""Figures as PNG: confusion matrix (Fig. 7), t-SNE of test features (Fig. 6), curves (Fig. 5)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from crossmoco.datasets.atomic import atomic_path


def save_png(fig, path: Path) -> Path:
    """Save and close ``fig`` as a PNG, atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str] | None, path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: predicted)."""
    rows = confusion.sum(axis=1, keepdims=True)
    norm = np.divide(confusion, rows, out=np.zeros_like(confusion, dtype=float), where=rows > 0)
    n = len(confusion)
    size = min(14.0, 3.0 + 0.28 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    names = list(class_names) if class_names is not None and len(class_names) == n else [str(i) for i in range(n)]
    ax.set_xticks(range(n), names, rotation=90, fontsize=7 if n > 20 else 9)
    ax.set_yticks(range(n), names, fontsize=7 if n > 20 else 9)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_png(fig, path)


def plot_tsne(features: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None, path: Path,
              title: str, seed: int = 0, max_points: int = 1500) -> Path:
    """2-D t-SNE of features coloured by class (a seeded subsample of at most ``max_points``)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(features), size=min(max_points, len(features)), replace=False)
    # Standardise, then PCA to <= 50 dimensions: near-constant features (an untrained or collapsed
    # encoder) otherwise stall Barnes-Hut t-SNE for minutes; small sets use exact t-SNE.
    f = features[idx].astype(np.float64)
    f = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-8)
    f = PCA(n_components=min(50, *f.shape), random_state=seed).fit_transform(f)
    perplexity = float(max(2, min(30, (len(idx) - 1) // 3)))
    method = "exact" if len(idx) <= 600 else "barnes_hut"
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method,
              max_iter=500).fit_transform(f)
    fig, ax = plt.subplots(figsize=(7, 6))
    classes = np.unique(labels[idx])
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    for i, c in enumerate(classes):
        sel = labels[idx] == c
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8, color=cmap(i % cmap.N), label=name)
    if len(classes) <= 20:
        ax.legend(fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return save_png(fig, path)


def plot_curves(series: dict[str, Sequence[dict[str, float]]], keys: Sequence[str], path: Path, title: str) -> Path:
    """One panel per key in ``keys``; one line per named run in ``series`` (rows with an 'epoch')."""
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, rows in series.items():
            pts = [(r["epoch"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o" if len(pts) < 30 else None, ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_png(fig, path)


def plot_pretraining(rows: Sequence[dict[str, float]], streams: Sequence[str], chance_key: str, knn_key: str,
                     lr_key: str, path: Path, title: str) -> Path:
    """Pretraining at a glance. Left: each stream's loss beside the chance level (the loss of encoders that learned
    nothing, the same for every stream), on one chart; middle: the kNN monitor, or why it is empty; right: lr."""
    fig, (ax_loss, ax_knn, ax_lr) = plt.subplots(1, 3, figsize=(15, 3.8), gridspec_kw={"width_ratios": [2, 1, 1]})

    def series(key: str) -> list[tuple[float, float]]:
        return [(r["epoch"], r[key]) for r in rows if key in r]

    for key in streams:
        if pts := series(key):
            ax_loss.plot(*zip(*pts, strict=True), marker="o" if len(pts) < 30 else None, ms=3,
                         label=key.removeprefix("loss_"))
    if pts := series(chance_key):
        ax_loss.plot(*zip(*pts, strict=True), ls="--", color="black", label="chance (nothing learned)")
    ax_loss.set(xlabel="epoch", ylabel="loss per stream")
    ax_loss.legend(fontsize=8)
    if pts := series(knn_key):
        ax_knn.plot(*zip(*pts, strict=True), marker="o", ms=3)
    else:
        ax_knn.text(0.5, 0.5, "kNN monitor off\n(pretrain.knn_every=0)", ha="center", va="center",
                    transform=ax_knn.transAxes, color="gray")
    ax_knn.set(xlabel="epoch", ylabel="kNN top-1 on validation (%)")
    if pts := series(lr_key):
        ax_lr.plot(*zip(*pts, strict=True))
    ax_lr.set(xlabel="epoch", ylabel="lr")
    for ax in (ax_loss, ax_knn, ax_lr):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_png(fig, path)
