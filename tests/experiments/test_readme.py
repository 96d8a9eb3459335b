"""The README's tables are generated from experiments/ and results/, never typed: its block must be current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crossmoco.experiments.readme import BEGIN, END, RESULTS_PAGE, main, readme_block, render_tables, update_readme
from crossmoco.experiments.results import write_result
from crossmoco.experiments.tables import ROWS, get_row

REPO = Path(__file__).resolve().parents[2]
ENV = dict(hardware="2x CPU", commit="abc1234", mlflow_run_id="r1", torch="2.13.0", ray="2.60.0", mlflow="3.17.2")


def test_readme_tables_are_the_generated_ones():
    stale = "results tables stale: python -m crossmoco.experiments.readme"
    assert readme_block(REPO / RESULTS_PAGE) == render_tables(), stale
    assert main(["--check"]) == 0


def test_every_row_and_figure_is_rendered_once():
    text = render_tables()
    for row in ROWS:
        assert text.count(f"| `{row.row_id}` |") == 1, row.row_id
    measured = r"(—|[\d.]+ \(\w+, ucla\)(; [^|]+)?)"  # one figure per results file (seeds, profiles), then a mean
    row = r"\| `table5-crossmoco-ucla` \| CrossMoCo \(ours\) \| NW-UCLA \| 87\.6 \| "
    assert re.search(rf"{row}{measured} \| yes \|", text)
    assert "| `table5-3s-aimclr-ucla` | 3s-AimCLR [37] | NW-UCLA | not reported | — | cited |" in text


def test_measured_figures_come_from_results_files(tmp_path):
    write_result(tmp_path, get_row("table5-crossmoco-ucla"), "cpu", 61.25, dataset="ucla", **ENV)
    write_result(tmp_path, get_row("table5-crossmoco-ucla"), "smoke", 12.0, dataset="synthetic", **ENV)
    text = render_tables(tmp_path)
    measured = "61.2 (cpu, ucla); 12.0 (smoke, synthetic)"
    assert f"| `table5-crossmoco-ucla` | CrossMoCo (ours) | NW-UCLA | 87.6 | {measured} | yes |" in text
    write_result(tmp_path, get_row("table5-crossmoco-ucla"), "cpu", 61.25, dataset="ucla",
                 overrides=("pretrain.epochs=20",), replace=True, **ENV)
    assert "| 61.2 (cpu, ucla, `pretrain.epochs=20`); 12.0 (smoke, synthetic) |" in render_tables(tmp_path)


def test_runs_that_differ_only_in_their_seed_show_their_mean(tmp_path):
    row = get_row("table5-crossmoco-ucla")
    write_result(tmp_path, row, "cpu", 80.0, dataset="ucla", **ENV)
    write_result(tmp_path, row, "cpu", 76.0, dataset="ucla", overrides=("seed=1",), seed=1, **ENV)
    cells = "80.0 (cpu, ucla); 76.0 (cpu, ucla, `seed=1`); mean 78.0, sd 2.8 over 2 seeds (cpu, ucla)"
    assert f"| {cells} | yes |" in render_tables(tmp_path)
    write_result(tmp_path, row, "cpu", 70.0, dataset="ucla", overrides=("seed=2", "optim.lr=0.05"), seed=2, **ENV)
    assert "over 3 seeds" not in render_tables(tmp_path)  # another setting is not averaged in


def test_update_readme_replaces_only_the_block_and_is_idempotent(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{BEGIN}\nstale\n{END}\nafter\n")
    assert update_readme(readme, root=tmp_path) is True
    text = readme.read_text()
    assert text.startswith(f"# title\n\nbefore\n{BEGIN}\n") and text.endswith(f"{END}\nafter\n")
    assert "stale" not in text and readme_block(readme) == render_tables(tmp_path)
    assert update_readme(readme, root=tmp_path) is False
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


@pytest.mark.parametrize("body", ["no markers", f"{END}\n{BEGIN}", f"{BEGIN}\n{BEGIN}\n{END}"])
def test_bad_markers_name_the_file(tmp_path, body):
    readme = tmp_path / "README.md"
    readme.write_text(body)
    with pytest.raises(ValueError, match="README.md: expected one"):
        update_readme(readme, root=tmp_path)
