"""One row of one of the paper's Tables I-VII, as a frozen value.

A row is one printed figure: a method (or an ablation setting), a dataset and split, an evaluation
protocol, and the paper's number. ``overrides`` are the dotted ``key=value`` strings that turn the
base configuration (plus a profile) into that row's run; ``tables.py`` builds them from the same
values as ``dataset``/``split``/``protocol``, so the two cannot disagree (a test checks it).

Rows of methods the project implements (CrossMoCo and its Table I-IV variants, SkeletonCLR,
supervised ST-GCN) are ``runnable``; rows of methods the paper only cites keep their reported
figure and say so in ``note``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from crossmoco.training.config import Config, apply_overrides

TableId = Literal["I", "II", "III", "IV", "V", "VI", "VII"]
PaperDataset = Literal["pku", "ntu60", "ucla"]  # DataConfig.dataset names of the paper's datasets
RowProtocol = Literal["linear", "semi", "finetune"]

TABLE_IDS: tuple[str, ...] = get_args(TableId)

# Splits the paper's rows use. PKU-MMD Part II: the paper does not say; the lineage it follows
# (MS2L, CrosSCLR, AimCLR) reports PKU-MMD with the cross-subject protocol, so we read "xsub".
# NW-UCLA: views 1 and 2 train, view 3 tests; DataConfig names that split "xview".
SPLITS: dict[str, tuple[str, ...]] = {"pku": ("xsub",), "ntu60": ("xsub", "xview"), "ucla": ("xview",)}

_KEY = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


@dataclass(frozen=True)
class TableRow:
    """One printed figure of Tables I-VII and how to run it."""

    table: TableId  # "I".."VII"
    key: str  # unique within the table; row_id is f"table{n}-{key}"
    label: str  # the row's label as printed (method or ablation setting)
    column: str  # the column the figure sits in, as printed (e.g. "LE", "NTU-60 xview", "NW-UCLA, 1%")
    method_name: str  # the method, as printed without its citation
    dataset: PaperDataset
    split: str  # see SPLITS
    protocol: RowProtocol
    paper_value: float | None  # top-1 accuracy in %, as printed; None where the paper prints "_"
    overrides: tuple[str, ...]  # dotted key=value strings, applied after the profile
    runnable: bool  # False: a figure the paper cites for a method this project does not implement
    note: str = ""  # why a row is not runnable; where the paper contradicts itself; our reading
    metric: str = "top1"  # top-1 accuracy (%) of the row's protocol (training.metrics names it per protocol)
    is_control: bool = False  # a control of this project (random-init or supervised encoders), not a paper's row

    def __post_init__(self) -> None:
        if self.table not in TABLE_IDS:
            raise ValueError(f"table {self.table!r} is not one of {TABLE_IDS}")
        if not _KEY.match(self.key):
            raise ValueError(f"row key {self.key!r} must be lower-case letters, digits, '.' and '-'")
        if self.split not in SPLITS.get(self.dataset, ()):
            raise ValueError(f"{self.row_id}: split {self.split!r} is not one of {SPLITS.get(self.dataset)}")
        if self.paper_value is not None and not 0.0 <= self.paper_value <= 100.0:
            raise ValueError(f"{self.row_id}: paper_value {self.paper_value} is not a percentage")
        if not self.runnable and not self.note:
            raise ValueError(f"{self.row_id}: a row that is not runnable must say why in its note")

    @property
    def table_number(self) -> int:
        """1 for Table I ... 7 for Table VII."""
        return TABLE_IDS.index(self.table) + 1

    @property
    def row_id(self) -> str:
        """Stable id used on the command line and in results file names, e.g. ``table5-crossmoco-ucla``."""
        return f"table{self.table_number}-{self.key}"

    def config(self, base: Config | None = None) -> Config:
        """``base`` (default: the base config) with this row's overrides applied."""
        return apply_overrides(base if base is not None else Config(), self.overrides)
