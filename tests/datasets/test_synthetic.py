"""The embedded synthetic dataset: NTU files the NTU reader reads, deterministic, separable by motion only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from crossmoco.datasets.ntu import ntu_splits, parse_ntu_name, read_ntu_skeleton
from crossmoco.datasets.synthetic import SYNTHETIC_CLASSES, Performer, generate_synthetic
from crossmoco.datasets.synthetic_actions import TWO_PERSON

REQUIRED = {"wave left hand", "wave right hand", "kick with left leg", "kick with right leg", "squat", "jump up",
            "clap", "bow", "raise both arms", "punch", "turn around", "sit down", "stand up"}  # fmt: skip


@pytest.fixture(scope="module")
def default_set(tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("synthetic")
    return out, generate_synthetic(out, seed=0)


def test_classes_and_layout_of_the_default_set(default_set) -> None:
    out, paths = default_set
    assert set(SYNTHETIC_CLASSES) >= REQUIRED and len(TWO_PERSON & set(SYNTHETIC_CLASSES)) >= 2
    assert len(paths) == 10 * 3 * len(SYNTHETIC_CLASSES)
    names = [parse_ntu_name(p) for p in paths]
    assert {n.performer for n in names} == set(range(1, 11)) and {n.camera for n in names} == {1, 2, 3}
    assert (out / "label_map.txt").read_text().splitlines() == list(SYNTHETIC_CLASSES)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_reader_reads_every_file_with_the_right_bodies(default_set) -> None:
    _, paths = default_set
    lengths, lost = set(), 0
    for path in paths:
        sample = read_ntu_skeleton(path)
        lengths.add(sample.num_frames)
        present = np.abs(sample.data).sum(axis=(0, 2)) > 0  # (T, M)
        lost += int((~present[:, 0]).any())
        assert present[:, 1].any() == (SYNTHETIC_CLASSES[sample.label] in TWO_PERSON), path.name
    assert min(lengths) >= 40 and max(lengths) <= 80 and len(lengths) > 20
    assert 0 < lost < len(paths), "some, not all, recordings have lost frames"


def test_both_splits_have_both_sides(default_set) -> None:
    _, paths = default_set
    for split in ("xsub", "xview"):
        sides = [ntu_splits("synthetic", parse_ntu_name(p))[split] for p in paths]
        assert 0.2 < sides.count("test") / len(sides) < 0.6


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = generate_synthetic(tmp_path / "a", seed=3, num_performers=2, cameras=(2,))
    b = generate_synthetic(tmp_path / "b", seed=3, num_performers=2, cameras=(2,))
    c = generate_synthetic(tmp_path / "c", seed=4, num_performers=2, cameras=(2,))
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    assert a[0].read_bytes() != c[0].read_bytes()
    # a recording does not depend on which other files are generated
    d = generate_synthetic(tmp_path / "d", seed=3, num_performers=2, cameras=(1, 2))
    assert [p.read_bytes() for p in d if "C002" in p.name] == [p.read_bytes() for p in a]


def test_performers_differ_in_bones_and_tempo() -> None:
    performers = [Performer.draw(0, p) for p in range(1, 11)]
    assert len({round(p.body.bones["thigh"], 4) for p in performers}) == 10
    assert len({round(p.tempo, 4) for p in performers}) == 10


def test_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_synthetic(tmp_path, num_performers=1)
    with pytest.raises(ValueError):
        generate_synthetic(tmp_path, cameras=(4,))


def _features(paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per one-person recording: first body's mean position (3), and motion features (150)."""
    position, motion, labels = [], [], []
    for path in paths:
        sample = read_ntu_skeleton(path)
        if SYNTHETIC_CLASSES[sample.label] in TWO_PERSON:
            continue
        body = sample.data[..., 0]  # (3, T, 25)
        body = body[:, np.abs(body).sum(axis=(0, 2)) > 0]  # drop lost frames
        velocity = np.diff(body, axis=1)  # (3, T - 1, 25): the motion stream, Eq. 7
        position.append(body.mean(axis=(1, 2)))
        motion.append(np.concatenate([np.abs(velocity).mean(axis=1).ravel(), velocity.std(axis=1).ravel()]))
        labels.append(sample.label)
    return np.array(position), np.array(motion), np.array(labels)


def test_separable_by_motion_not_by_mean_position(default_set) -> None:
    position, motion, labels = _features(default_set[1])
    chance = 1 / len(set(labels.tolist()))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    by_position = cross_val_score(clf, position, labels, cv=folds).mean()
    by_motion = cross_val_score(clf, motion, labels, cv=folds).mean()
    assert by_position < 2 * chance, (by_position, chance)
    assert by_motion > 0.6, by_motion
