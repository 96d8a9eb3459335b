"""What the verbs infer and how they fail: the dataset from its folder, settings from a file that `config`
writes, the row list, one line for an unknown verb, `report` on a folder with no runs."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from typer.testing import CliRunner

from crossmoco import cli
from crossmoco.pipeline.config_file import file_overrides, load_config, to_toml
from crossmoco.pipeline.data import inferred_overrides


def test_a_folder_of_one_dataset_names_it_and_its_default_split(synthetic_shards, tmp_path):
    out = tmp_path / "out"  # what `preprocess ucla RAW OUT` leaves: one ucla-<hash> folder
    dst = out / "ucla-abcd"
    shutil.copytree(synthetic_shards, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.update(dataset="ucla", splits=["xview"])
    (dst / "manifest.json").write_text(json.dumps(manifest))
    assert inferred_overrides(out) == ("data.dataset=ucla", "data.split=xview")
    assert inferred_overrides(dst) == ("data.dataset=ucla", "data.split=xview")
    shutil.copytree(synthetic_shards, out / "synthetic-efgh")
    assert inferred_overrides(out) == ()  # two datasets: load_dataset's error lists them
    assert inferred_overrides(tmp_path / "missing") == ()


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_config_output_reads_back_in(tmp_path, suffix):
    cfg = load_config("cpu", ["contrastive.num_banks=3", "encoder.channels=8,8,16,32",
                                  "encoder.strides=1,2,2,1", "data.val_performers=8,9"])
    path = tmp_path / f"run{suffix}"
    from crossmoco.training.config import to_flat_dict

    path.write_text(to_toml(cfg, "header") if suffix == ".toml" else json.dumps({"config": to_flat_dict(cfg)}))
    profile, overrides = file_overrides(path)
    assert profile is None
    assert load_config("smoke", overrides) == cfg


def test_a_bad_key_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("profile: cpu\ncontrastive:\n  num_bank: 3\n")
    res = CliRunner().invoke(cli.app, ["config", "--config", str(path)])
    assert res.exit_code == 2
    assert "run.yaml" in res.output and "contrastive.num_bank" in res.output


def test_rows_lists_ids_with_the_papers_figure():
    res = CliRunner().invoke(cli.app, ["rows", "III"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("table3-banks2-le "))
    assert "30.4" in line


def test_an_unknown_verb_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["crossmoco", "-v", "pretrian", "x"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'pretrian'" in err


def test_report_on_a_folder_without_runs_is_an_error_that_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    res = CliRunner().invoke(cli.app, ["report", "III", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert [ln for ln in res.output.splitlines() if ln.startswith("error: ")] and list(tmp_path.iterdir()) == []
