"""Measured figures kept in the repository: ``results/<row_id>-<profile>.csv``, one file per row, profile and seed.

Each file holds a header and one line (``COLUMNS``): the row, the profile, the paper's figure, the
measured one and their difference, the data it ran on, and what it ran with (hardware, torch / ray /
mlflow versions, commit, MLflow run id, date, the ``--set`` overrides given on top of the profile
and the row, "; "-separated, empty for none, the run's ``seed``, and ``augment``: how it made its two views,
``describe_augment``). The config's default seed (0)
keeps the plain name; another seed's run of the same row and profile is a file of its own,
``<row_id>-<profile>-seed<S>.csv``, so repeating a row with other seeds adds figures (the README shows
each and their mean) instead of replacing the first. Files written before a column existed
(``LEGACY_COLUMNS``) still load with that column None: not recorded, which is not the same as none
(a file from before ``seed`` is read as the plain name's, the default seed's run).
Only ``write_result``, called by the pipeline after a real run, writes them; nobody types a measured
figure. ``load_results`` reads them back for the README and reports.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from crossmoco.datasets.atomic import write_text_atomic
from crossmoco.experiments.rows import TableRow
from crossmoco.pipeline.config_file import PROFILES
from crossmoco.training.config import Config

RESULTS_DIR = "results"
COLUMNS: tuple[str, ...] = (
    "row_id", "profile", "metric", "paper", "measured", "diff", "dataset", "hardware",
    "torch", "ray", "mlflow", "commit", "mlflow_run_id", "date", "overrides", "seed", "augment",
)  # fmt: skip
# older files: no ``overrides``, no ``seed`` (both 2026-12-03), no ``augment`` (2026-12-07; every figure kept before
# it trained with shear + crop, the default then, except rows that set their own: the supervised control, none)
LEGACY_COLUMNS = (COLUMNS[:-3], COLUMNS[:-2], COLUMNS[:-1])
DEFAULT_SEED: int = Config.seed  # the config's default seed (read, not mirrored): its figure keeps the plain name
OVERRIDE_SEP = "; "
_FLOATS = ("paper", "measured", "diff")


class ResultsError(ValueError):
    """A results file that cannot be read; the message names the file and line."""


def result_path(root: str | os.PathLike[str], row_id: str, profile: str, seed: int | None = DEFAULT_SEED) -> Path:
    """``<root>/results/<row_id>-<profile>.csv``, or ``...-<profile>-seed<S>.csv`` for a seed other than the
    default (None: a file from before the seed was recorded, the plain name)."""
    suffix = "" if seed in (None, DEFAULT_SEED) else f"-seed{seed}"
    return Path(root) / RESULTS_DIR / f"{row_id}-{profile}{suffix}.csv"


PREDICTIONS_DIR = "predictions"  # results/predictions/<results file stem>.csv: the figure's per-clip predictions


def predictions_path(root: str | os.PathLike[str], row_id: str, profile: str, seed: int | None = DEFAULT_SEED) -> Path:
    """``<root>/results/predictions/<the results file's name>``: the per-clip predictions behind a kept figure
    (``clip,label,predicted``; ``predicted_<i>`` per label subset), written by ``write_predictions``."""
    path = result_path(root, row_id, profile, seed)
    return path.parent / PREDICTIONS_DIR / path.name


def write_predictions(root: str | os.PathLike[str], row_id: str, profile: str, seed: int, text: str) -> Path:
    """Keep a figure's per-clip predictions (the CSV a protocol stage logged to MLflow) beside its results file,
    atomically; the claims report resamples clips from them."""
    path = predictions_path(root, row_id, profile, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path


def load_predictions(root: str | os.PathLike[str], row_id: str, profile: str, seed: int | None) -> np.ndarray | None:
    """Per-clip correctness (1 = the predicted class is the label) of a kept figure, shape (subsets, clips), or
    None where no predictions were kept (figures recorded before they were)."""
    path = predictions_path(root, row_id, profile, seed)
    if not path.is_file():
        return None
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise ResultsError(f"{path}: not a clip,label,predicted table: {e}") from None
    if table.shape[1] < 3:
        raise ResultsError(f"{path}:1: expected the columns clip,label,predicted")
    return (table[:, 2:] == table[:, 1:2]).T.astype(np.int8)  # (subsets, clips)


def _version(*distributions: str) -> str:
    """The installed version of the first distribution found, "" for none (Ray is not installed where a chain
    runs in one process, e.g. on the GPU machine; MLflow may be the ``mlflow-skinny`` distribution there)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return ""


def describe_augment(cfg: Config) -> str:
    """How a run made its two views, for a results file's ``augment`` column: the named steps, the occlusion
    mask with its reading and rates, e.g. ``occlusion(in_selected_frames, temporal 0.5, spatial 0.6)``,
    ``shear+crop``; ``none`` for no step and for encoders that were never trained (``method=random``)."""
    aug = cfg.augment
    if cfg.method == "random" or not aug.steps:
        return "none"
    occ = aug.occlusion
    parts = [f"occlusion({occ.reading}, temporal {occ.temporal_rate:g}, spatial {occ.spatial_rate:g}"
             + ("" if occ.rate_mode == "fixed" else f", rate {occ.rate_mode}") + ")" if step == "occlusion" else step
             for step in aug.steps]
    return "+".join(parts)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def write_result(
    root: str | os.PathLike[str],
    row: TableRow,
    profile: str,
    measured: float,
    *,
    dataset: str,
    hardware: str,
    commit: str,
    mlflow_run_id: str,
    torch: str | None = None,
    ray: str | None = None,
    mlflow: str | None = None,
    date: str | None = None,
    overrides: Sequence[str] = (),
    seed: int = DEFAULT_SEED,
    augment: str = "",
    replace: bool = False,
) -> Path:
    """Write one measured figure of ``row`` atomically (temporary file, then ``os.replace``).

    ``measured`` is top-1 accuracy in percent, as the paper prints it. ``dataset`` names the data the
    run actually read (e.g. ``ucla`` or ``synthetic``). Versions default to the installed packages,
    ``date`` to now (UTC). ``overrides`` are the user's ``--set KEY=VALUE`` strings the run had on top of
    the profile and the row (a figure measured with them is not the profile's). ``seed`` is the run's
    ``Config.seed``. An earlier result of the same row, profile and seed is replaced when it was measured with
    the same overrides (the seed aside): a rerun. One measured with other overrides is kept, and this raises
    ``ResultsError`` (``kept_otherwise``), unless ``replace``: a variant does not silently take the row's place.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
    if not 0.0 <= measured <= 100.0:
        raise ValueError(f"{row.row_id}: measured {measured} is not a percentage (top-1 accuracy in %)")
    if any(OVERRIDE_SEP.strip() in o or "=" not in o for o in overrides):
        raise ValueError(f"{row.row_id}: overrides must be KEY=VALUE strings without ';': {list(overrides)}")
    if not replace and (why := kept_otherwise(root, row.row_id, profile, seed, overrides)):
        raise ResultsError(why)
    record = {
        "row_id": row.row_id,
        "profile": profile,
        "metric": row.metric,
        "paper": _fmt(row.paper_value),
        "measured": _fmt(measured),
        "diff": "" if row.paper_value is None else _fmt(round(measured - row.paper_value, 2)),
        "dataset": dataset,
        "hardware": hardware,
        "torch": torch if torch is not None else _version("torch"),
        "ray": ray if ray is not None else _version("ray"),
        "mlflow": mlflow if mlflow is not None else _version("mlflow", "mlflow-skinny"),
        "commit": commit,
        "mlflow_run_id": mlflow_run_id,
        "date": date or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "overrides": OVERRIDE_SEP.join(overrides),
        "seed": str(int(seed)),
        "augment": augment,
    }
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow(record)
    path = result_path(root, row.row_id, profile, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, buf.getvalue())
    return path


def _parse(path: Path, line: int, raw: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    record: dict[str, Any] = {"overrides": None, "seed": None, "augment": None}
    for key in columns:
        value = raw.get(key)
        if value is None:
            raise ResultsError(f"{path}:{line}: missing value for column {key!r}")
        if key in _FLOATS:
            try:
                record[key] = float(value) if value.strip() else None
            except ValueError:
                raise ResultsError(f"{path}:{line}: column {key!r} is not a number: {value!r}") from None
        elif key == "overrides":
            record[key] = tuple(value.split(OVERRIDE_SEP)) if value else ()
        elif key == "seed":
            try:
                record[key] = int(value)
            except ValueError:
                raise ResultsError(f"{path}:{line}: column 'seed' is not an integer: {value!r}") from None
        else:
            record[key] = value
    if record["measured"] is None:
        raise ResultsError(f"{path}:{line}: no measured figure")
    _check_figures(path, line, record)
    if path.name != result_path(path.parent.parent, record["row_id"], record["profile"], record["seed"]).name:
        raise ResultsError(f"{path}:{line}: row_id/profile/seed do not match the file name")
    return record


def _check_figures(path: Path, line: int, record: dict[str, Any]) -> None:
    """A kept figure is a finite percentage, its ``diff`` is ``measured - paper`` (to the files' rounding: each
    printed to 2 decimals): a hand-edited file is refused, not rendered into the README (the run id is held to
    its store by ``check_run_ids``, where the store can be reached)."""
    for key in _FLOATS:
        value = record[key]
        if value is not None and not (math.isfinite(value) and (key == "diff" or 0.0 <= value <= 100.0)):
            raise ResultsError(f"{path}:{line}: {key} {value:g} is not a percentage in [0, 100]")
    paper, measured, diff = record["paper"], record["measured"], record["diff"]
    if (paper is None) != (diff is None) or (diff is not None and abs(diff - (measured - paper)) > 0.0101):
        want = "empty" if paper is None else f"{measured - paper:.2f}"
        raise ResultsError(f"{path}:{line}: diff {_fmt(diff) or 'empty'} is not measured - paper ({want})")


def check_run_ids(records: Sequence[Mapping[str, Any]], tracking_uri: str) -> None:
    """Each record's MLflow run exists in the store at ``tracking_uri``, when that store can be reached (a
    figure names the run that measured it); a ``ResultsError`` naming the row otherwise."""
    from crossmoco.pipeline import tracking

    store = tracking.Store(tracking_uri, "")
    for record in records:
        if not tracking.run_exists(store, record["mlflow_run_id"]):
            raise ResultsError(f"{record['row_id']} ({record['profile']}, seed {record['seed']}): MLflow run "
                               f"{record['mlflow_run_id']} is not in {tracking_uri}")


def recorded_tag(record: Mapping[str, Any]) -> tuple[str, str]:
    """The tag (key, value) that ``reproduce --record`` puts on the run whose figure it keeps in a results file:
    the file's name and the date written into it."""
    from crossmoco.training import metrics as M

    name = result_path(".", record["row_id"], record["profile"], record["seed"]).name
    return M.RECORDED + name, record["date"]


def check_recorded_runs(records: Sequence[Mapping[str, Any]], tracking_uri: str) -> None:
    """Hold each figure to its MLflow run where that run's store is at hand: ``check_run_ids`` for the records
    that the store at ``tracking_uri`` recorded (a FINISHED run carries the file's ``recorded_tag``), and each of
    those must name such a run. A figure kept from another run folder (another machine's, not here) is not
    checked, nor is anything when the store does not exist (it is not created)."""
    from crossmoco.pipeline import tracking

    if not tracking.store_exists(tracking_uri):
        return
    store = tracking.Store(tracking_uri, "")
    for record in records:
        recorded = {run.run_id for run in tracking.find_finished(store, *recorded_tag(record))}
        if recorded:
            check_run_ids([record], tracking_uri)
            if record["mlflow_run_id"] not in recorded:
                raise ResultsError(f"{record['row_id']} ({record['profile']}, seed {record['seed']}): MLflow run "
                                   f"{record['mlflow_run_id']} is not the run {tracking_uri} recorded it from "
                                   f"({', '.join(sorted(recorded))})")


def seed_free(overrides: Sequence[str] | None) -> tuple[str, ...]:
    """``overrides`` without the ``seed=`` one (None, a file from before the column existed: none)."""
    return tuple(o for o in overrides or () if not o.startswith("seed="))


def _settings(overrides: Sequence[str]) -> dict[str, str]:
    """What ``overrides`` set, as the config applies them (in order, a later value of a key wins): two runs with
    the same settings given in another order were measured the same way."""
    return dict(o.split("=", 1) for o in seed_free(overrides))


def kept_otherwise(
    root: str | os.PathLike[str], row_id: str, profile: str, seed: int, overrides: Sequence[str]
) -> str | None:
    """Why a figure measured with ``overrides`` may not replace the file kept for ``row_id``, ``profile`` and
    ``seed``: one line naming the file, the figure it keeps and both runs' ``--set`` (the seed aside), or None
    when there is no such file or it was measured the same way (a rerun replaces it). A file from before the
    overrides were recorded counts as measured with none. An unreadable file raises ``ResultsError``."""
    path = result_path(root, row_id, profile, seed)
    if not path.is_file():
        return None
    (kept,) = _load_file(path)
    theirs, ours = seed_free(kept["overrides"]), seed_free(overrides)
    if _settings(theirs) == _settings(ours):
        return None
    return (f"{path}: keeps {kept['measured']:g} measured with {', '.join(theirs) or 'no --set'} (commit "
            f"{kept['commit'][:7]}, MLflow run {kept['mlflow_run_id']}); this run has {', '.join(ours) or 'no --set'}. "
            "A figure measured another way does not replace it: --replace if it should, else keep the variant in "
            "MLflow (a grid) or as a row of its own")


def _load_file(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        columns = tuple(reader.fieldnames or ())
        if columns not in (COLUMNS, *LEGACY_COLUMNS):
            raise ResultsError(f"{path}:1: header {reader.fieldnames} is not {list(COLUMNS)}")
        records = [_parse(path, reader.line_num, raw, columns) for raw in reader]
    if len(records) != 1:
        raise ResultsError(f"{path}:{1 + len(records)}: {len(records)} figures; a results file holds one")
    return records


def load_results(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record of ``<root>/results/*.csv``, sorted by file name without ``.csv`` (a row, then its other
    seeds); floats parsed, empty -> None; ``overrides`` a tuple of ``KEY=VALUE`` strings and ``seed`` an int,
    each None for a file written before its column existed."""
    records = []
    for path in sorted((Path(root) / RESULTS_DIR).glob("*.csv"), key=lambda p: p.stem):  # a row's seeds after it
        records += _load_file(path)
    return records
