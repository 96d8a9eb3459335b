"""Results files: write_result -> load_results round trip, atomic replacement, errors naming file and line."""

from __future__ import annotations

import os

import pytest

import crossmoco.experiments.results as results_mod
from crossmoco.experiments.results import COLUMNS, ResultsError, kept_otherwise, load_results, result_path, write_result
from crossmoco.experiments.tables import get_row

ENV = dict(hardware="2x CPU", commit="abc1234", mlflow_run_id="r1", torch="2.13.0", ray="2.60.0", mlflow="3.17.2")


def test_round_trip(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    path = write_result(tmp_path, row, "cpu", 61.234, dataset="ucla", date="2026-11-24T00:00:00Z", **ENV)
    assert path == tmp_path / "results" / "table5-crossmoco-ucla-cpu.csv" == result_path(tmp_path, row.row_id, "cpu")
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    (record,) = load_results(tmp_path)
    assert record == {
        "row_id": "table5-crossmoco-ucla", "profile": "cpu", "metric": "top1", "paper": 87.6, "measured": 61.23,
        "diff": -26.37, "dataset": "ucla", "hardware": "2x CPU", "torch": "2.13.0", "ray": "2.60.0",
        "mlflow": "3.17.2", "commit": "abc1234", "mlflow_run_id": "r1", "date": "2026-11-24T00:00:00Z",
        "overrides": (), "seed": 0, "augment": "",
    }  # fmt: skip


def test_overrides_are_kept_with_the_figure(tmp_path):
    sets = ("eval.split=test", "eval.semi_fractions=0.01,0.1")  # a comma inside a value survives the CSV
    write_result(tmp_path, get_row("table5-crossmoco-ucla"), "cpu", 50.0, dataset="ucla", overrides=sets, **ENV)
    (record,) = load_results(tmp_path)
    assert record["overrides"] == sets
    with pytest.raises(ValueError, match="KEY=VALUE strings"):
        write_result(tmp_path, get_row("table5-crossmoco-ucla"), "cpu", 50.0, dataset="ucla",
                     overrides=("a=1; b=2",), **ENV)


def test_files_from_before_the_overrides_seed_and_augment_columns_load_with_them_unknown(tmp_path):
    path = write_result(tmp_path, get_row("table5-crossmoco-ucla"), "cpu", 50.0, dataset="ucla",
                        augment="shear+crop", **ENV)
    header, line = path.read_text().splitlines()
    assert header.endswith(",overrides,seed,augment") and line.endswith(",,0,shear+crop")
    assert load_results(tmp_path)[0]["augment"] == "shear+crop"
    header, line = header.removesuffix(",augment"), line.removesuffix(",shear+crop")
    path.write_text(f"{header}\n{line}\n")
    (record,) = load_results(tmp_path)
    assert record["augment"] is None and record["seed"] == 0
    path.write_text(f"{header.removesuffix(',seed')}\n{line.removesuffix(',0')}\n")
    (record,) = load_results(tmp_path)
    assert record["seed"] is None and record["overrides"] == () and record["measured"] == 50.0
    path.write_text(f"{header.removesuffix(',overrides,seed')}\n{line.removesuffix(',,0')}\n")
    (record,) = load_results(tmp_path)
    assert record["overrides"] is None and record["seed"] is None  # not recorded, which is not "none"


def test_another_seed_is_a_file_of_its_own_and_the_default_keeps_the_plain_name(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    first = write_result(tmp_path, row, "cpu", 80.0, dataset="ucla", **ENV)
    second = write_result(tmp_path, row, "cpu", 75.0, dataset="ucla", overrides=("seed=1",), seed=1, **ENV)
    assert first.name == "table5-crossmoco-ucla-cpu.csv" and second.name == "table5-crossmoco-ucla-cpu-seed1.csv"
    assert second == result_path(tmp_path, row.row_id, "cpu", 1)
    assert [(r["seed"], r["measured"]) for r in load_results(tmp_path)] == [(0, 80.0), (1, 75.0)]
    write_result(tmp_path, row, "cpu", 77.0, dataset="ucla", seed=1, **ENV)  # the same seed again replaces its own
    assert [(r["seed"], r["measured"]) for r in load_results(tmp_path)] == [(0, 80.0), (1, 77.0)]
    second.rename(tmp_path / "results" / "table5-crossmoco-ucla-cpu-seed2.csv")  # the line says seed 1
    with pytest.raises(ResultsError, match=r"cpu-seed2.csv:2: row_id/profile/seed do not match the file name"):
        load_results(tmp_path)


def test_a_figure_measured_another_way_does_not_replace_the_kept_one_unless_asked(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    path = write_result(tmp_path, row, "cpu", 80.0, dataset="ucla", **ENV)
    before = path.read_bytes()
    with pytest.raises(ResultsError, match=r"table5-crossmoco-ucla-cpu.csv: keeps 80 measured with no --set \(commit "
                       r"abc1234, MLflow run r1\); this run has contrastive.queue_size=512"):
        write_result(tmp_path, row, "cpu", 90.0, dataset="ucla", overrides=("contrastive.queue_size=512",), **ENV)
    assert path.read_bytes() == before, "the refusal left the kept figure as it was"
    assert kept_otherwise(tmp_path, row.row_id, "cpu", 0, ["seed=0"]) is None, "the seed aside, the same settings"
    assert kept_otherwise(tmp_path, row.row_id, "cpu", 1, ["x=1"]) is None, "another seed has no file yet"
    write_result(tmp_path, row, "cpu", 90.0, dataset="ucla", overrides=("contrastive.queue_size=512",), replace=True,
                 **ENV)
    (kept,) = load_results(tmp_path)
    assert kept["measured"] == 90.0 and kept["overrides"] == ("contrastive.queue_size=512",)
    write_result(tmp_path, row, "cpu", 91.0, dataset="ucla", overrides=("contrastive.queue_size=512",), **ENV)
    assert load_results(tmp_path)[0]["measured"] == 91.0, "a rerun measured the same way replaces its own file"
    write_result(tmp_path, row, "cpu", 92.0, dataset="ucla", replace=True, **ENV,
                 overrides=("contrastive.queue_size=256", "optim.lr=0.05", "contrastive.queue_size=512"))
    assert kept_otherwise(tmp_path, row.row_id, "cpu", 0, ["optim.lr=0.05", "contrastive.queue_size=512"]) is None
    assert kept_otherwise(tmp_path, row.row_id, "cpu", 0, ["contrastive.queue_size=512", "optim.lr=0.1"])
    header, line = path.read_text().splitlines()  # a file from before the overrides column: measured with none
    path.write_text(f"{header.removesuffix(',overrides,seed,augment')}\n{line.rsplit(',', 3)[0]}\n")
    assert kept_otherwise(tmp_path, row.row_id, "cpu", 0, []) is None
    assert "this run has x=1" in kept_otherwise(tmp_path, row.row_id, "cpu", 0, ["x=1"])


def test_a_results_file_holds_one_figure(tmp_path):
    path = write_result(tmp_path, get_row("table5-crossmoco-ucla"), "cpu", 50.0, dataset="ucla", **ENV)
    header, line = path.read_text().splitlines()
    path.write_text(f"{header}\n{line}\n{line}\n")
    with pytest.raises(ResultsError, match=r"cpu.csv:3: 2 figures; a results file holds one"):
        load_results(tmp_path)
    path.write_text(f"{header}\n")
    with pytest.raises(ResultsError, match=r"cpu.csv:1: 0 figures"):
        load_results(tmp_path)


def test_versions_and_date_default_to_the_running_environment(tmp_path):
    env = {k: v for k, v in ENV.items() if k not in ("torch", "ray", "mlflow")}
    write_result(tmp_path, get_row("table6-crossmoco-ucla-1pct"), "smoke", 10.0, dataset="synthetic", **env)
    (record,) = load_results(tmp_path)
    assert record["ray"].startswith("2.60") and record["date"].endswith("Z")


def test_mlflow_skinny_alone_still_records_its_version(tmp_path, monkeypatch):
    real = results_mod.metadata.version

    def without_full_mlflow(name):  # what the GPU machine has: mlflow-skinny, no mlflow, no ray
        if name in ("mlflow", "ray"):
            raise results_mod.metadata.PackageNotFoundError(name)
        return "3.17.2" if name == "mlflow-skinny" else real(name)

    monkeypatch.setattr(results_mod.metadata, "version", without_full_mlflow)
    env = {k: v for k, v in ENV.items() if k not in ("ray", "mlflow")}
    write_result(tmp_path, get_row("table5-crossmoco-ucla"), "paper", 80.0, dataset="ucla", **env)
    (record,) = load_results(tmp_path)
    assert record["mlflow"] == "3.17.2" and record["ray"] == ""


def test_a_row_without_a_paper_figure_has_no_diff(tmp_path):
    write_result(tmp_path, get_row("table5-3s-aimclr-ucla"), "paper", 50.0, dataset="ucla", **ENV)
    (record,) = load_results(tmp_path)
    assert record["paper"] is None and record["diff"] is None and record["measured"] == 50.0


def test_rewriting_replaces_and_files_sort(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    write_result(tmp_path, row, "cpu", 50.0, dataset="ucla", **ENV)
    write_result(tmp_path, row, "cpu", 55.0, dataset="ucla", **ENV)
    write_result(tmp_path, row, "paper", 80.0, dataset="ucla", **ENV)
    assert [(r["profile"], r["measured"]) for r in load_results(tmp_path)] == [("cpu", 55.0), ("paper", 80.0)]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    row = get_row("table5-crossmoco-ucla")
    path = write_result(tmp_path, row, "cpu", 50.0, dataset="ucla", **ENV)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_result(tmp_path, row, "cpu", 99.0, dataset="ucla", **ENV)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_bad_arguments(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    with pytest.raises(ValueError, match="unknown profile"):
        write_result(tmp_path, row, "laptop", 50.0, dataset="ucla", **ENV)
    with pytest.raises(ValueError, match="not a percentage"):
        write_result(tmp_path, row, "cpu", 101.0, dataset="ucla", **ENV)


def test_no_results_folder_is_no_results(tmp_path):
    assert load_results(tmp_path) == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda text: text.replace("row_id,", "row,", 1), ":1: header"),
        (lambda text: text.replace(",50,", ",fifty,"), ":2: column 'measured' is not a number"),
        (lambda text: text.replace("table5-crossmoco-ucla,cpu", "table5-crossmoco-ucla,paper"), ":2: row_id/profile"),
        (lambda text: text.rstrip("\n").rsplit(",", 4)[0] + "\n", ":2: missing value for column 'date'"),
        (lambda text: text.replace(",,0,\n", ",,zero,\n"), ":2: column 'seed' is not an integer"),
    ],
)
def test_load_errors_name_file_and_line(tmp_path, edit, needle):
    path = write_result(tmp_path, get_row("table5-crossmoco-ucla"), "cpu", 50.0, dataset="ucla", **ENV)
    path.write_text(edit(path.read_text()))
    with pytest.raises(ResultsError, match=f"table5-crossmoco-ucla-cpu.csv{needle}".replace("(", r"\(")):
        load_results(tmp_path)
