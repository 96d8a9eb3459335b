"""Every verb accepts the folder given to `preprocess` (OUT_DIR) as well as the shard directory in it."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from crossmoco.cli import app
from crossmoco.pipeline.config_file import load_config
from crossmoco.pipeline.data import DataError, load_dataset, resolve_data_dir


def _copy_as(src, out, name, **manifest_changes):
    """A copy of a shard directory under ``out/name`` with some manifest fields changed."""
    dst = out / name
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    for key, value in manifest_changes.items():
        if key == "config":
            manifest["config"] = {**manifest["config"], **value}
        else:
            manifest[key] = value
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_preprocess_out_dir_resolves_to_its_one_dataset_of_the_asked_kind(synthetic_shards, tmp_path):
    out = synthetic_shards.parent  # what `preprocess synthetic RAW OUT` was given
    assert resolve_data_dir(out, "synthetic") == synthetic_shards
    assert resolve_data_dir(synthetic_shards, "synthetic") == synthetic_shards
    assert load_dataset(out, load_config("smoke")).root == synthetic_shards
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _copy_as(synthetic_shards, mixed, "synthetic-aaaa")
    _copy_as(synthetic_shards, mixed, "ntu60-bbbb", dataset="ntu60")
    assert resolve_data_dir(mixed, "ntu60") == mixed / "ntu60-bbbb"
    with pytest.raises(DataError, match=r"no ucla dataset .*it holds ntu60, synthetic"):
        resolve_data_dir(mixed, "ucla")


def test_several_datasets_of_one_kind_are_listed_with_their_configs(synthetic_shards, tmp_path):
    a = _copy_as(synthetic_shards, tmp_path, "synthetic-aaaa")
    b = _copy_as(synthetic_shards, tmp_path, "synthetic-bbbb", config={"num_frames": 64, "center": False})
    with pytest.raises(DataError) as err:
        resolve_data_dir(tmp_path, "synthetic")
    text = str(err.value)
    assert "holds 2 synthetic datasets" in text and "\n" not in text
    assert f"{a} (preprocess.center=True, preprocess.num_frames=50)" in text
    assert f"{b} (preprocess.center=False, preprocess.num_frames=64)" in text


def test_chain_verb_reports_an_ambiguous_folder_as_one_error_line(synthetic_shards, tmp_path):
    _copy_as(synthetic_shards, tmp_path, "synthetic-aaaa")
    _copy_as(synthetic_shards, tmp_path, "synthetic-bbbb", config={"num_frames": 64})
    for argv in (["chain", str(tmp_path)], ["pretrain", str(tmp_path)],
                 ["grid", "--over", "contrastive.num_banks=1,2", "--data", str(tmp_path)],
                 ["reproduce", "table5-crossmoco-ucla", "--data", str(tmp_path)]):
        res = CliRunner().invoke(app, [*argv, "--run-dir", str(tmp_path / "runs")])
        assert res.exit_code == 2, (argv, res.output)
        errors = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1, (argv, res.output)
        assert "synthetic-aaaa" in errors[0] or "ucla" in errors[0], (argv, errors)
