"""A corpus of broken raw files: each gets a DatasetFormatError naming file and line, preprocessing
quarantines them and completes the rest, and nothing already written is lost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmoco.datasets import preprocess as preprocess_module
from crossmoco.datasets.config import PreprocessConfig
from crossmoco.datasets.errors import DatasetFormatError
from crossmoco.datasets.loader import open_split
from crossmoco.datasets.ntu import read_ntu_skeleton
from crossmoco.datasets.pku import read_pku_video
from crossmoco.datasets.preprocess import preprocess_dataset
from crossmoco.datasets.ucla import read_ucla_json

from .conftest import ntu_text, one_body_frames, person, write_pku_release, write_ucla

GOOD = ntu_text(one_body_frames(person(np.random.default_rng(0), 3)))  # lines: 1 T, 2 B, 3 info, 4 "25", 5-29 joints


def _line(text: str, n: int, new: str) -> str:
    lines = text.split("\n")
    lines[n - 1] = new
    return "\n".join(lines)


def _field(text: str, n: int, k: int, new: str) -> str:
    fields = text.split("\n")[n - 1].split(" ")
    fields[k] = new
    return _line(text, n, " ".join(fields))


NTU_CORPUS = {  # name: (file bytes, expected line, words of the reason)
    "truncated": (GOOD[: GOOD.index("\n", len(GOOD) // 2)].encode(), None, "ends early"),
    "non_numeric": (_field(GOOD, 7, 1, "abc").encode(), 7, "non-numeric"),
    "wrong_joint_count": (_line(GOOD, 4, "24").encode(), 4, "expected 25 joints, found 24"),
    "wrong_body_count": (_line(GOOD, 2, "9").encode(), 2, "impossible body count 9"),
    "negative_body_count": (_line(GOOD, 2, "-1").encode(), 2, "impossible body count"),
    "zero_frames": (_line(GOOD, 1, "0").encode(), 1, "impossible frame count 0"),
    "too_many_frames": (_line(GOOD, 1, "99999").encode(), 1, "impossible frame count"),
    "more_frames_than_written": (_line(GOOD, 1, "4").encode(), None, "ends early"),
    "nan": (_field(GOOD, 9, 0, "nan").encode(), 9, "NaN or infinite"),
    "inf": (_field(GOOD, 33, 2, "-inf").encode(), 33, "NaN or infinite"),
    "empty": (b"", None, "empty file"),
    "blank": (b"\n\n  \n", None, "empty file"),
    "non_utf8": (_line(GOOD, 12, "\x00" + GOOD.split("\n")[11]).encode().replace(b"\x00", b"\xff"), 12, "not UTF-8"),
    "eleven_fields": (_line(GOOD, 20, "1 2 3 4 5 6 7 8 9 10 11").encode(), 20, "needs 12 fields, found 11"),
    "body_info_short": (_line(GOOD, 3, "7 0 1").encode(), 3, "10 fields, found 3"),
    "frame_count_text": (_line(GOOD, 1, "three").encode(), 1, "frame count"),
    "trailing_garbage": ((GOOD + "1\n2\n").encode(), 86, "unexpected content"),
}


@pytest.mark.parametrize("case", sorted(NTU_CORPUS))
def test_ntu_corpus(tmp_path: Path, case: str) -> None:
    content, line, reason = NTU_CORPUS[case]
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(content)
    with pytest.raises(DatasetFormatError, match=reason) as info:
        read_ntu_skeleton(path)
    assert info.value.path == str(path) and str(path) in str(info.value)
    if line is not None:
        assert info.value.line == line and f"{path}:{line}:" in str(info.value)
    else:
        assert info.value.line is None or info.value.line > 1


def test_ntu_unknown_class_and_name(tmp_path: Path) -> None:
    for name, reason in (("S001C001P001R001A121.skeleton", "unknown class"), ("bad.skeleton", "file name")):
        (tmp_path / name).write_text(GOOD)
        with pytest.raises(DatasetFormatError, match=reason):
            read_ntu_skeleton(tmp_path / name)


PKU_LABELS = {
    "past_end": ("1,5,31,2\n", 1, "past the 30 frames"),
    "end_before_start": ("1,0,5,2\n1,20,10,2\n", 2, "reversed"),
    "unknown_class": ("52,0,5,1\n", 1, "unknown class 52"),
    "class_zero": ("0,0,5,1\n", 1, "unknown class 0"),
    "not_numbers": ("walk,0,5,1\n", 1, "expected label,start,end,confidence"),
}


@pytest.mark.parametrize("case", sorted(PKU_LABELS))
def test_pku_label_corpus(tmp_path: Path, case: str) -> None:
    labels, line, reason = PKU_LABELS[case]
    root = write_pku_release(tmp_path, {"0001-L": (np.zeros((30, 150)), labels)}, [], [])
    items = read_pku_video(root / "skeleton" / "0001-L.txt", root / "label" / "0001-L.txt")
    (error,) = [i for i in items if isinstance(i, DatasetFormatError)]  # the good intervals are read
    assert reason in str(error)
    assert error.line == line and error.path.endswith("0001-L.txt")


@pytest.mark.parametrize(("bad", "line", "reason"), [("149", 3, "150 numbers, found 149"), ("x", 3, "non-numeric")])
def test_pku_skeleton_corpus(tmp_path: Path, bad: str, line: int, reason: str) -> None:
    root = write_pku_release(tmp_path, {"0001-L": (np.zeros((5, 150)), "1,0,5,2\n")}, [], [])
    f = root / "skeleton" / "0001-L.txt"
    rows = f.read_text().split("\n")
    rows[line - 1] = " ".join(["0"] * 149) if bad == "149" else "x " + rows[line - 1].split(" ", 1)[1]
    f.write_text("\n".join(rows))
    with pytest.raises(DatasetFormatError, match=reason) as info:
        read_pku_video(f, root / "label" / "0001-L.txt")
    assert info.value.line == line


def _ucla(tmp_path: Path, name: str = "a01_s01_e01_v01.json", joints: int = 20, label: int = 1, t: int = 3) -> Path:
    return write_ucla(tmp_path / name, np.ones((t, joints, 3)), label)


NAN_FRAME = "[" + ",".join(["[NaN, 1, 2]"] * 20) + "]"


def _raw_json(folder: Path, text: str) -> Path:
    (folder / "a01_s01_e01_v01.json").write_text(text)
    return folder / "a01_s01_e01_v01.json"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: _ucla(p, joints=19), r"skeletons\[0\] has 19 joints, expected 20"),
        (lambda p: _ucla(p, label=11), "label 11 is not the class"),
        (lambda p: _ucla(p, name="a07_s01_e01_v01.json", label=7), "unknown action a07"),
        (lambda p: _ucla(p, t=0), "non-empty list"),
        (lambda p: _raw_json(p, '{"label": 1,\n "skeletons": ['), "not JSON"),
        (lambda p: _raw_json(p, '{"file_name": "x", "label": 1, "skeletons": [' + NAN_FRAME + "]}"), "NaN or infinity"),
    ],
)  # fmt: skip
def test_ucla_corpus(tmp_path: Path, make, reason: str) -> None:
    path = make(tmp_path)
    with pytest.raises(DatasetFormatError, match=reason) as info:
        read_ucla_json(path)
    assert str(path) in str(info.value)


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "a01_s01_e01_v01.json"
    path.write_text('{"label": 1,\n "skeletons": [')
    with pytest.raises(DatasetFormatError) as info:
        read_ucla_json(path)
    assert info.value.line == 2


def test_preprocessing_quarantines_the_corpus_and_completes_the_rest(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, case in enumerate(sorted(NTU_CORPUS)):
        (raw / f"S001C001P{i + 1:03d}R001A001.skeleton").write_bytes(NTU_CORPUS[case][0])
    for i in range(3):
        (raw / f"S001C002P00{i + 1}R002A002.skeleton").write_text(GOOD)
    (raw / "notes.skeleton").write_text(GOOD)
    out = preprocess_dataset("synthetic", raw, tmp_path / "out", PreprocessConfig(), workers=2)
    m = json.loads((out / "manifest.json").read_text())
    assert m["num_rows"] == 3 and len(m["quarantined"]) == len(NTU_CORPUS) + 1
    assert all({"file", "line", "reason"} == q.keys() for q in m["quarantined"])
    assert {q["line"] for q in m["quarantined"]} >= {1, 2, 4, 7, 9, 12, 20, 33}
    assert len(open_split(out, "xview", "train")) == 3


def test_pku_bad_label_lines_quarantine_only_themselves(tmp_path: Path) -> None:
    videos = {"0001-L": (np.ones((30, 150)), "1,0,10,2\n1,20,10,2\n52,0,5,1\n2,10,30,0\n")}
    root = write_pku_release(tmp_path / "raw", videos, ["0001-L"], [])
    out = preprocess_dataset("pku", root, tmp_path / "out", PreprocessConfig(), workers=1)
    m = json.loads((out / "manifest.json").read_text())
    assert m["num_rows"] == 2 and [q["line"] for q in m["quarantined"]] == [2, 3]


def test_an_interrupted_run_leaves_no_partial_output_and_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    raw = tmp_path / "raw"
    for i in range(5):
        (raw / f"S001C001P00{i + 1}R001A001.skeleton").parent.mkdir(exist_ok=True)
        (raw / f"S001C001P00{i + 1}R001A001.skeleton").write_text(GOOD)
    done = preprocess_dataset("synthetic", raw, tmp_path / "out", PreprocessConfig(), workers=1)
    before = {p.name: p.read_bytes() for p in done.iterdir()}
    real_write, calls = preprocess_module.write_shard, []

    def failing_write(path, table):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(path, table)

    monkeypatch.setattr(preprocess_module, "write_shard", failing_write)
    cfg = PreprocessConfig(shard_rows=2)
    with pytest.raises(OSError, match="disk full"):
        preprocess_dataset("synthetic", raw, tmp_path / "out", cfg, workers=1)
    assert list((tmp_path / "out").iterdir()) == [done], "no partial folder, hidden or not, is left"
    assert {p.name: p.read_bytes() for p in done.iterdir()} == before
    monkeypatch.setattr(preprocess_module, "write_shard", real_write)
    again = preprocess_dataset("synthetic", raw, tmp_path / "out", cfg, workers=1)
    assert again != done and json.loads((again / "manifest.json").read_text())["num_rows"] == 5
