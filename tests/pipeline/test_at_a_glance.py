"""What the MLflow runs table shows of a grid without opening a run: short names, the row's setting, the
paper's figure beside the measured one; and the pretraining that barely moved says so."""

from __future__ import annotations

from crossmoco.experiments.grids import table_trials
from crossmoco.pipeline.artifacts import near_chance_note
from crossmoco.pipeline.chain import headline_columns, paper_metrics, run_name
from crossmoco.pipeline.config_file import load_config
from crossmoco.training import metrics as M


def test_a_table_grid_carries_its_axis_and_the_papers_figures():
    trials = table_trials("III", "smoke", [], synthetic=True)
    by_name = {t.name: t for t in trials}
    assert set(by_name) == {"banks1", "banks2", "banks3"}
    assert dict(by_name["banks3"].setting) == {"num_banks": "3"}
    assert dict(by_name["banks3"].paper) == {"linear_top1": 27.3, "finetune_top1": 50.1}
    (one,) = table_trials("table3-banks3-le,table3-banks3-fe", "smoke", [], synthetic=True)
    assert dict(one.setting)["num_banks"] == "3" and "method" not in dict(one.setting)


def test_run_names_are_the_rows_common_id():
    cfg = load_config("smoke")
    assert run_name("table3-banks3-le,table3-banks3-fe", cfg) == "table3-banks3"
    assert run_name("table5-crossmoco-ucla", load_config("smoke", ["seed=2"])) == "table5-crossmoco-ucla-s2"
    assert run_name("", cfg) == "crossmoco"


def test_paper_figure_and_difference_are_rounded_metrics():
    beside = paper_metrics({"linear_top1": 70.66666, "finetune_top1": 50.0}, {"linear_top1": 66.4, "semi1_top1": 9.0})
    assert beside == {"linear_paper": 66.4, "linear_diff": 4.3}


def test_headline_columns_fit_the_runs_tables_headers():
    beside = paper_metrics({"linear_top1": 70.7, "finetune_top1": 50.0}, {"linear_top1": 66.4, "finetune_top1": 80.9})
    columns = headline_columns(["linear_top1", "finetune_top1"], beside)
    assert columns == ["linear_top1", "linear_paper", "linear_diff", "finetune_top1", "finetune_paper", "finetune_diff"]
    assert max(map(len, columns)) <= 14  # MLflow's metric columns are 100 px: 15 characters show, then it cuts
    synthetic = paper_metrics({"linear_top1": 70.7}, {"linear_top1": 66.4}, diff=False)
    assert headline_columns(["linear_top1"], synthetic) == ["linear_top1", "linear_paper"]


def test_a_loss_near_chance_is_named():
    health = {"loss_joint": 4.01, "loss_motion": 4.18, M.LOSS_CHANCE: 4.17}
    assert "barely moved" in near_chance_note(health) and "joint 4.01" in near_chance_note(health)
    assert near_chance_note({**health, "loss_joint": 2.0}) == ""
