"""Readers refuse what float32 shards cannot hold, parse PKU-MMD Part II subjects, and refuse JSON booleans.

* A coordinate of ``1e39`` is finite in float64 and ``inf`` in float32: NTU, PKU-MMD and NW-UCLA
  readers check after the cast, so the error names the file (and line) instead of an ``inf``
  reaching the shards behind a NumPy overflow warning.
* A PKU-MMD Part II video ``A<action>N<subject>-<view>`` carries its subject: the sample's
  performer, which a subject-held-out validation split needs (it was 0: a split mixing subjects).
* NW-UCLA JSON: ``true`` is an int to Python and a number to NumPy; as a coordinate or a label it
  is refused, naming the file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.ntu import read_ntu_skeleton
from crossmoco.datasets.pku import read_pku_skeleton, read_pku_video
from crossmoco.datasets.ucla import read_ucla_json

HUGE = "1e39"  # > float32 max (3.4e38)


def _ntu(path: Path, x: str) -> Path:
    joints = [f"{x if v == 3 else '0.1'} 0.2 3.0 250 180 1000 500 0.1 0.2 0.3 0.4 2" for v in range(25)]
    path.write_text("\n".join(["1", "1", "72057594037931101 0 1 1 1 1 0 0.1 -0.2 2", "25", *joints]) + "\n")
    return path


def _pku_values(t: int = 4) -> np.ndarray:
    return np.tile(np.linspace(0.1, 1.0, 150), (t, 1))


def _pku(path: Path, values: np.ndarray, huge_at: tuple[int, int] | None = None) -> Path:
    rows = [[f"{v:.6f}" for v in row] for row in values]
    if huge_at is not None:
        rows[huge_at[0]][huge_at[1]] = HUGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(r) + "\n" for r in rows))
    return path


def _ucla(tmp_path: Path, skeletons: object, label: object = 1) -> Path:
    path = tmp_path / "a01_s01_e01_v01.json"
    path.write_text(json.dumps({"file_name": path.stem, "label": label, "skeletons": skeletons}))
    return path


def test_a_coordinate_beyond_float32_is_refused_naming_the_file(tmp_path: Path) -> None:
    ntu = _ntu(tmp_path / "S001C001P001R001A001.skeleton", HUGE)
    pku = _pku(tmp_path / "0001-L.txt", _pku_values(), huge_at=(2, 7))
    frames = [[[0.1, 0.2, 3.0]] * 20] * 3
    frames[1] = [[0.1, 0.2, 1e39]] + [[0.1, 0.2, 3.0]] * 19
    ucla = _ucla(tmp_path, frames)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning stands in for the error
        for path, read, where in ((ntu, read_ntu_skeleton, f"{ntu}:8"), (pku, read_pku_skeleton, f"{pku}:3"),
                                  (ucla, read_ucla_json, f"{ucla}: skeletons[1]")):  # fmt: skip
            with pytest.raises(DatasetFormatError, match="float32") as e:
                read(path)
            assert str(e.value).startswith(where), str(e.value)


def test_pku_part2_names_carry_the_subject(tmp_path: Path) -> None:
    skeleton = _pku(tmp_path / "skeleton" / "A05N07-M.txt", _pku_values(6))
    labels = tmp_path / "label" / "A05N07-M.txt"
    labels.parent.mkdir()
    labels.write_text("5,0,6,1\n")
    (sample,) = read_pku_video(skeleton, labels)
    assert (sample.performer, sample.camera, sample.label) == (7, 2, 4)
    part1 = _pku(tmp_path / "skeleton" / "0160-L.txt", _pku_values(6))
    labels.write_text("5,0,6,1\n")
    assert read_pku_video(part1, labels)[0].performer == 0  # Part I names no subject


@pytest.mark.parametrize("where", ["coordinate", "label"])
def test_ucla_booleans_are_refused(tmp_path: Path, where: str) -> None:
    frames = [[[0.1, 0.2, 3.0]] * 20] * 3
    if where == "coordinate":
        frames[2] = [[0.1, True, 3.0]] + [[0.1, 0.2, 3.0]] * 19
    path = _ucla(tmp_path, frames, label=True if where == "label" else 1)
    with pytest.raises(DatasetFormatError, match="boolean" if where == "coordinate" else "label True") as e:
        read_ucla_json(path)
    assert str(e.value).startswith(str(path))
