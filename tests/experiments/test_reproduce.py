"""`reproduce` on the smoke profile: one chain for one row, the paper's figure beside the measured one."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from experiments.reproduce import reproduce_row, row_config, row_metric
from experiments.tables import get_row
from pipeline.cli import app

FAST = ["resources.num_workers=0", "pretrain.epochs=1", "eval.linear_epochs=2", "eval.semi_epochs=1"]


def test_row_metric_names_the_protocol_stage():
    row = get_row("table6-crossmoco-ucla-10pct")
    assert row_metric(row, row_config(row, "smoke", [], synthetic=True)) == "semi10_top1"
    row = get_row("table5-crossmoco-ucla")
    assert row_metric(row, row_config(row, "smoke", [], synthetic=True)) == "linear_top1"


def test_reproduce_prints_paper_and_measured_on_smoke(tmp_path, synthetic_shards):
    out = reproduce_row("table5-crossmoco-ucla", profile="smoke", data_dir=None, run_dir=tmp_path, overrides=FAST,
                        results_dir=tmp_path / "results")
    assert out.dataset == "synthetic" and out.result_file is None, "synthetic figures are never recorded"
    line = out.line()
    assert "paper 87.6" in line and re.search(r"measured \d+\.\d", line) and out.parent_run_id in line
    assert "not comparable" in line


def test_reproduce_cli_refuses_unrunnable_rows_and_real_rows_without_data(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "table5-p-c-ucla", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2 and "cites" in res.output
    res = runner.invoke(app, ["reproduce", "table5-crossmoco-ucla", "--profile", "cpu", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--data" in res.output
    res = runner.invoke(app, ["reproduce", "table9-nothing", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2


@pytest.mark.parametrize("table", ["I", "V"])
def test_report_writes_markdown_and_chart_without_measurements(tmp_path, table):
    from experiments.report import report

    rep = report(table, tmp_path)
    text = rep.markdown.read_text()
    assert "| paper | measured |" in text and rep.chart.stat().st_size > 1000
