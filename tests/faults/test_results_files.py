"""A results file is validated when it is loaded: nothing hand-edited reaches the README tables.

Holds for ``load_results`` (what the README tables, ``claims`` and ``reproduce --record`` read):
``measured`` outside [0, 100] or not finite, a ``diff`` that is not ``measured - paper`` (to the
files' 2-decimal rounding) is a ``ResultsError``
naming the file and line, one line from the CLI (``main``), never a traceback. ``check_run_ids``
holds each figure to its run when the run store can be reached.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from crossmoco.experiments.results import COLUMNS, ResultsError, check_run_ids, load_results

RUN = "0123456789abcdef0123456789abcdef"


def _write(root: Path, **changes: str) -> Path:
    record = {"row_id": "table5-crossmoco-ucla", "profile": "cpu", "metric": "top1", "paper": "80.4",
              "measured": "70.8", "diff": "-9.6", "dataset": "ucla", "hardware": "cpu", "torch": "2", "ray": "2",
              "mlflow": "3", "commit": "abc1234", "mlflow_run_id": RUN, "date": "2026-12-07T00:00:00Z",
              "overrides": "", "seed": "0", "augment": "none", **changes}  # fmt: skip
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow(record)
    path = root / "results" / "table5-crossmoco-ucla-cpu.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue())
    return path


@pytest.mark.parametrize(("changes", "says"), [
    ({"measured": "150", "diff": "69.6"}, "measured 150 is not a percentage"),
    ({"measured": "nan", "diff": "nan"}, "measured nan"),
    ({"measured": "99.9"}, "diff -9.6 is not measured - paper (19.50)"),
])  # fmt: skip
def test_a_hand_edited_results_file_is_refused(tmp_path: Path, changes: dict, says: str) -> None:
    path = _write(tmp_path, **changes)
    with pytest.raises(ResultsError) as e:
        load_results(tmp_path)
    assert str(e.value).startswith(f"{path}:2: ") and says in str(e.value), str(e.value)


def test_a_valid_file_loads(tmp_path: Path) -> None:
    _write(tmp_path)
    (record,) = load_results(tmp_path)
    assert record["measured"] == 70.8


def test_the_run_id_is_checked_against_a_reachable_store(tmp_path: Path, run_dir: Path) -> None:
    _write(tmp_path)
    with pytest.raises(ResultsError, match=f"MLflow run {RUN} is not in"):
        check_run_ids(load_results(tmp_path), f"sqlite:///{run_dir / 'mlflow.db'}")


def test_the_cli_reports_a_results_error_in_one_line(monkeypatch, capsys) -> None:
    import crossmoco.cli as cli

    def broken() -> None:
        raise ResultsError("results/x.csv:2: measured 150 is not a percentage in [0, 100]")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(cli, "_unknown_verb", lambda argv: None)  # the stand-in app has no verbs to look up
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 2
    assert capsys.readouterr().err == "error: results/x.csv:2: measured 150 is not a percentage in [0, 100]\n"


def _recorded_here(run_dir: Path, root: Path) -> tuple[str, str]:
    """A finished chain run in ``run_dir``'s store whose figure ``reproduce --record`` kept in ``root``."""
    from crossmoco.experiments.reproduce import Outcome, record
    from crossmoco.experiments.tables import get_row
    from crossmoco.pipeline import tracking

    uri = f"sqlite:///{run_dir / 'mlflow.db'}"
    store = tracking.init_store(uri, "table5")
    run = store.client.create_run(store.experiment_id).info.run_id
    store.client.set_terminated(run)
    record(Outcome(get_row("table5-crossmoco-ucla"), "cpu", "ucla", 70.8, run, uri, store.experiment_id, "abc1234"),
           root, regenerate_docs=False)
    return uri, run


def _edit(root: Path, **changes: str) -> None:
    path = root / "results" / "table5-crossmoco-ucla-cpu.csv"
    (record,) = csv.DictReader(io.StringIO(path.read_text()))
    _write(root, **{**record, **changes})


def test_a_figure_recorded_here_is_held_to_its_run(tmp_path: Path, run_dir: Path) -> None:
    """The store that recorded a figure holds it to its run: an edited run id is refused, one line."""
    from crossmoco.experiments.results import check_recorded_runs
    from crossmoco.pipeline import tracking

    uri, run = _recorded_here(run_dir, tmp_path)
    check_recorded_runs(load_results(tmp_path), uri)  # as recorded
    _edit(tmp_path, mlflow_run_id=RUN)
    with pytest.raises(ResultsError, match=f"MLflow run {RUN} is not in"):
        check_recorded_runs(load_results(tmp_path), uri)
    store = tracking.Store(uri, "")
    other = store.client.create_run(tracking.init_store(uri, "table5").experiment_id).info.run_id
    _edit(tmp_path, mlflow_run_id=other)  # a run the store holds, but not the one that measured the figure
    with pytest.raises(ResultsError, match=f"MLflow run {other} is not the run {uri} recorded it from \\({run}\\)"):
        check_recorded_runs(load_results(tmp_path), uri)


def test_figures_kept_from_elsewhere_are_not_checked(tmp_path: Path, run_dir: Path) -> None:
    """Another machine's figure (its run folder is not here), or no store at all: nothing to hold it to."""
    from crossmoco.experiments.results import check_recorded_runs

    _write(tmp_path)  # RUN: recorded from a store that is not this one
    check_recorded_runs(load_results(tmp_path), f"sqlite:///{run_dir / 'mlflow.db'}")
    missing = tmp_path / "gone" / "mlflow.db"
    check_recorded_runs(load_results(tmp_path), f"sqlite:///{missing}")
    assert not missing.exists(), "an absent store is not created"


def test_publishing_checks_the_run_folder_store(tmp_path: Path, run_dir: Path, monkeypatch) -> None:
    """``reproduce/grid --record`` (``regenerate``) and ``claims --write`` refuse an edited run id in one line
    and write nothing."""
    from crossmoco.experiments.reproduce import regenerate

    from .conftest import error_line, invoke

    uri, _ = _recorded_here(run_dir, tmp_path)
    _edit(tmp_path, mlflow_run_id=RUN)
    with pytest.raises(ResultsError, match=f"MLflow run {RUN} is not in"):
        regenerate(tmp_path, uri)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    error_line(invoke("claims", "--write", "--run-dir", run_dir, "--results-dir", tmp_path), RUN, "is not in")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "runs"], "nothing written"
