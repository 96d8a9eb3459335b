"""Class names of each dataset, for the manifest, figures and reports.

NW-UCLA and the synthetic set have fixed lists. NTU and PKU-MMD names come from the release's own
label files when they sit beside the raw data (``label_map*.txt`` / ``nturgbd_120.txt`` in RAW_DIR
or its ``../meta``; PKU-MMD's ``split/Actions.xlsx.tsv``); otherwise the action codes are used.
``datasets.registry`` says which of these a dataset takes.
"""

from __future__ import annotations

from pathlib import Path

from crossmoco.datasets.errors import read_utf8_lines
from crossmoco.datasets.synthetic_actions import ACTIONS

UCLA_CLASSES = (
    "pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
    "stand up", "donning", "doffing", "throw", "carry",
)  # fmt: skip  # actions a01-a06, a08, a09, a11, a12 (a07 and a10 do not occur)
SYNTHETIC_CLASSES = tuple(ACTIONS)

_NTU_FILES = {"ntu60": ("label_map_ntu60.txt",), "ntu120": ("nturgbd_120.txt", "label_map_ntu120.txt")}


def ntu_names(dataset: str, raw_dir: Path, count: int) -> tuple[str, ...]:
    for folder in (raw_dir, raw_dir.parent / "meta", raw_dir / "meta"):
        for name in _NTU_FILES[dataset]:
            path = folder / name
            if path.is_file():
                lines = [ln.strip() for ln in read_utf8_lines(path) if ln.strip()]
                if len(lines) >= count:
                    return tuple(lines[:count])
    return tuple(f"A{i:03d}" for i in range(1, count + 1))


def pku_names(raw_dir: Path, count: int) -> tuple[str, ...]:
    for path in (raw_dir / "split" / "Actions.xlsx.tsv", raw_dir / "Actions.xlsx.tsv"):
        if path.is_file():
            rows = [ln.split("\t") for ln in read_utf8_lines(path)[1:] if "\t" in ln]
            names = {int(r[0]): r[1].strip() for r in rows if r[0].strip().isdigit()}
            if all(i in names for i in range(1, count + 1)):
                return tuple(names[i] for i in range(1, count + 1))
    return tuple(f"class {i}" for i in range(1, count + 1))
