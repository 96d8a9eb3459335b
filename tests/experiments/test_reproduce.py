"""`reproduce` on the smoke profile: one chain for one row, the paper's figure beside the measured one."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossmoco.cli import app
from crossmoco.experiments.reproduce import Outcome, control_line, record, reproduce_row, row_config, row_metric
from crossmoco.experiments.results import load_results, write_result
from crossmoco.experiments.tables import get_row

FAST = ["resources.num_workers=0", "pretrain.epochs=1", "eval.linear_epochs=2", "eval.semi_epochs=1"]
REPO = Path(__file__).resolve().parents[2]
ROW = "table5-crossmoco-ntu60-xview"


def _as_ntu60(shards: Path, out: Path) -> Path:
    """The synthetic shards (NTU format, 25 joints, an xview split) labelled as NTU-60: a run on them
    is a run on the row's own dataset, so it may be recorded."""
    dst = out / "ntu60-000000000000"
    shutil.copytree(shards, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    (dst / "manifest.json").write_text(json.dumps({**manifest, "dataset": "ntu60"}))
    return out


def _tree_state() -> tuple[str, str]:
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    pages = (REPO / "README.md").read_bytes() + (REPO / "docs" / "results.md").read_bytes()
    return status, hashlib.sha256(pages).hexdigest()


def test_reproduce_measures_and_leaves_the_working_tree_alone_unless_asked(tmp_path, synthetic_shards):
    data = _as_ntu60(synthetic_shards, tmp_path / "data")
    argv = ["reproduce", ROW, "--data", str(data), "--run-dir", str(tmp_path / "runs")]
    for o in FAST:
        argv += ["--set", o]
    before = _tree_state()
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 0, res.output
    assert "paper 84.9" in res.output and "not recorded: add --record" in res.output
    assert _tree_state() == before, "reproduce without --record wrote into the repository"
    assert not (REPO / "results" / f"{ROW}-smoke.csv").exists()

    repo = tmp_path / "repo"  # --record writes into the repository: here, a copy of its README
    repo.mkdir()
    shutil.copy(REPO / "README.md", repo / "README.md")
    (repo / "docs").mkdir()
    shutil.copy(REPO / "docs" / "results.md", repo / "docs" / "results.md")
    res = CliRunner().invoke(app, [*argv, "--record", "--results-dir", str(repo)])
    assert res.exit_code == 0, res.output
    assert f"recorded in {repo / 'results' / f'{ROW}-smoke.csv'}" in res.output
    row = next(ln for ln in (repo / "docs" / "results.md").read_text().splitlines() if f"| `{ROW}` |" in ln)
    with_ = "".join(f", `{o}`" for o in FAST)  # the --set overrides stay with the figure, file and README
    assert re.search(rf"\| 84\.9 \| [\d.]+ \(smoke, ntu60{re.escape(with_)}\) \|", row), row
    (kept,) = load_results(repo)
    assert kept["overrides"] == tuple(FAST)
    assert _tree_state() == before


def test_row_metric_names_the_protocol_stage():
    row = get_row("table6-crossmoco-ucla-10pct")
    assert row_metric(row, row_config(row, "smoke", [], synthetic=True)) == "semi10_top1"
    row = get_row("table5-crossmoco-ucla")
    assert row_metric(row, row_config(row, "smoke", [], synthetic=True)) == "linear_top1"


def test_reproduce_prints_paper_and_measured_on_smoke(tmp_path, synthetic_shards):
    out = reproduce_row("table5-crossmoco-ucla", profile="smoke", data_dir=None, run_dir=tmp_path, overrides=FAST)
    assert out.dataset == "synthetic" and not out.recordable, "synthetic figures are never recorded"
    with pytest.raises(ValueError, match="only a run on the row's own dataset"):
        record(out, root=tmp_path)
    line = out.line()
    assert "paper 87.6" in line and re.search(r"measured \d+\.\d", line) and out.parent_run_id in line
    assert "not comparable" in line


def test_a_validation_figure_is_printed_without_a_diff_and_never_recorded(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    common = dict(row=row, profile="cpu", dataset="ucla", measured=70.8, parent_run_id="abc",
                  tracking_uri="sqlite:///x", experiment_id="1", commit="0" * 40)
    test_side = Outcome(**common)
    assert test_side.recordable and test_side.diff == pytest.approx(70.8 - 87.6)
    val = Outcome(**common, split="val")
    assert not val.recordable and val.diff is None
    line = val.line()
    assert "paper 87.6  measured 70.8" in line and "diff" not in line and "validation split: not comparable" in line
    with pytest.raises(ValueError, match="val-split figure is for choosing settings"):
        record(val, root=tmp_path)
    assert not (tmp_path / "results").exists()


def test_another_seed_is_recorded_beside_the_default_seeds_figure(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    common = dict(row=row, profile="cpu", dataset="ucla", parent_run_id="abc", tracking_uri="sqlite:///x",
                  experiment_id="1", commit="0" * 40)
    first = record(Outcome(**common, measured=80.0), root=tmp_path)
    second = record(Outcome(**common, measured=76.0, overrides=("seed=1",), seed=1), root=tmp_path)
    assert (first.name, second.name) == ("table5-crossmoco-ucla-cpu.csv", "table5-crossmoco-ucla-cpu-seed1.csv")
    assert [(r["seed"], r["measured"], r["overrides"]) for r in load_results(tmp_path)] == [
        (0, 80.0, ()), (1, 76.0, ("seed=1",))]


def _outcome(row_id: str, measured: float, seed: int = 0, overrides: tuple[str, ...] = (), **kw) -> Outcome:
    return Outcome(row=get_row(row_id), profile="cpu", dataset="ucla", measured=measured,
                   parent_run_id=f"run{measured}", tracking_uri="sqlite:///x", experiment_id="1", commit="c" * 40,
                   overrides=overrides, seed=seed, **kw)


def test_a_figure_is_printed_beside_the_kept_control_of_its_profile_and_seed(tmp_path):
    control = get_row("table5-random-ucla")
    for seed, figure in ((0, 64.2), (1, 66.6)):
        write_result(tmp_path, control, "cpu", figure, dataset="ucla", hardware="h", commit="ab12cd3" + "0" * 33,
                     mlflow_run_id=f"ctl{seed}", overrides=(f"seed={seed}",) if seed else (), seed=seed)
    line = control_line(_outcome("table5-crossmoco-ucla", 83.4), root=tmp_path)
    assert "table5-random-ucla (profile cpu, seed 0): 64.2, gap +19.2 points" in line
    assert "results/table5-random-ucla-cpu.csv, commit ab12cd3, MLflow run ctl0" in line
    line = control_line(_outcome("table5-crossmoco-ucla", 89.2, 1, ("seed=1",)), root=tmp_path)
    assert "seed 1): 66.6, gap +22.6" in line and "cpu-seed1.csv" in line and "ran with" not in line
    line = control_line(_outcome("table5-crossmoco-ucla", 80.0, 0, ("contrastive.tau=0.1",)), root=tmp_path)
    assert "gap +15.8" in line and "the control ran with no --set, this row with contrastive.tau=0.1" in line
    missing = control_line(_outcome("table5-crossmoco-ucla", 80.0, 7, ("seed=7",)), root=tmp_path)
    assert "none measured for profile cpu, seed 7" in missing
    assert "reproduce table5-random-ucla --profile cpu --data <the same data> --set seed=7" in missing
    assert control_line(_outcome("table5-crossmoco-ucla", 70.0, split="val"), root=tmp_path) is None
    broken = tmp_path / "results" / "table5-random-ucla-cpu-seed2.csv"
    broken.write_text("row_id,profile\n")
    line = control_line(_outcome("table5-crossmoco-ucla", 80.0, 2, ("seed=2",)), root=tmp_path)
    assert line.startswith("  random-init control: not read, ") and f"{broken}:1: header" in line
    assert control_line(_outcome("table5-random-ucla", 64.2), root=tmp_path) is None


def test_a_control_measured_in_the_same_command_is_preferred_to_the_kept_one(tmp_path):
    control = get_row("table6-random-ucla-10pct")
    write_result(tmp_path, control, "cpu", 53.6, dataset="ucla", hardware="h", commit="0" * 40, mlflow_run_id="old")
    now = {"table6-random-ucla-10pct": _outcome("table6-random-ucla-10pct", 50.0)}
    line = control_line(_outcome("table6-crossmoco-ucla-10pct", 70.8), now, root=tmp_path)
    assert ": 50.0, gap +20.8 points (this command, MLflow run run50.0)" in line
    other_seed = {"table6-random-ucla-10pct": _outcome("table6-random-ucla-10pct", 50.0, 3, ("seed=3",))}
    line = control_line(_outcome("table6-crossmoco-ucla-10pct", 70.8), other_seed, root=tmp_path)
    assert ": 53.6, gap +17.2" in line, "a control of another seed is not the same measurement"


def test_reproduce_cli_measures_controls_first_and_prints_each_figure_beside_its_control(tmp_path, monkeypatch):
    import crossmoco.experiments.reproduce as reproduce_module

    figures = {"table5-crossmoco-ucla": 83.4, "table5-random-ucla": 64.2, "table5-supervised-ucla": 89.2}
    order = []

    def fake_row(row_id, *, profile, data_dir, run_dir, overrides, experiment="crossmoco"):
        order.append(row_id)
        return _outcome(row_id, figures[row_id], overrides=tuple(overrides))

    monkeypatch.setattr(reproduce_module, "reproduce_row", fake_row)
    res = CliRunner().invoke(app, ["reproduce", "table5-crossmoco-ucla", "table5-supervised-ucla",
                                   "table5-random-ucla", "--profile", "cpu", "--data", str(tmp_path),
                                   "--set", "resources.num_workers=0", "--run-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert order == ["table5-supervised-ucla", "table5-random-ucla", "table5-crossmoco-ucla"]
    beside = [ln for ln in res.output.splitlines() if "random-init control" in ln]
    assert len(beside) == 1 and ": 64.2, gap +19.2 points (this command, MLflow run run64.2)" in beside[0]


def test_reproduce_cli_refuses_to_record_a_validation_run_before_running_it(tmp_path):
    res = CliRunner().invoke(app, ["reproduce", "table5-crossmoco-ucla", "--run-dir", str(tmp_path), "--record",
                                   "--set", "eval.split=val"])
    assert res.exit_code == 2 and "test-split figures only" in res.output
    assert not (tmp_path / "mlflow.db").exists(), "nothing may run before the refusal"


def test_reproduce_cli_refuses_before_running_to_record_over_a_figure_measured_another_way(tmp_path):
    repo = tmp_path / "repo"
    row = get_row("table5-crossmoco-ucla")
    kept = write_result(repo, row, "cpu", 83.4, dataset="ucla", hardware="cpu", commit="abc1234", mlflow_run_id="r1")
    argv = ["reproduce", row.row_id, "--profile", "cpu", "--data", str(tmp_path), "--run-dir", str(tmp_path / "runs"),
            "--record", "--results-dir", str(repo), "--set", "contrastive.queue_size=512"]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 2 and f"{kept}: keeps 83.4 measured with no --set" in res.output, res.output
    assert "this run has contrastive.queue_size=512" in res.output and "--replace" in res.output
    assert not (tmp_path / "runs").exists(), "nothing may run before the refusal"
    res = CliRunner().invoke(app, [*argv, "--set", "seed=1"])  # another seed is a file of its own: no refusal
    assert "keeps 83.4" not in res.output


def test_reproduce_cli_refuses_unrunnable_rows_and_real_rows_without_data(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "table5-p-c-ucla", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2 and "cites" in res.output
    res = runner.invoke(app, ["reproduce", "table5-crossmoco-ucla", "--profile", "cpu", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--data" in res.output
    res = runner.invoke(app, ["reproduce", "table9-nothing", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2


@pytest.mark.parametrize("table", ["I", "V"])
def test_report_draws_paper_beside_measured_and_refuses_a_folder_without_runs(tmp_path, table):
    from crossmoco.experiments.grids import SummaryRow, markdown
    from crossmoco.experiments.report import chart, report
    from crossmoco.experiments.tables import rows_of

    rows = [SummaryRow(r.row_id, r.label, r.paper_value, None if i % 2 else 50.0, "")
            for i, r in enumerate(rows_of(table))]
    text = markdown(rows, f"Table {table}")
    assert "| paper | measured |" in text and chart(rows, tmp_path / "t.png", table).stat().st_size > 1000
    with pytest.raises(FileNotFoundError, match="no MLflow store"):
        report(table, tmp_path / "empty")
    assert not (tmp_path / "empty").exists(), "a report on a folder without runs creates nothing"
