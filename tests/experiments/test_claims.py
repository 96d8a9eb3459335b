"""The paper's claims as data and their verdicts: statistics by hand, verdicts on results files written here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmoco.experiments.claims import (
    CLAIMS,
    MIN_SEEDS,
    Claim,
    Paired,
    bootstrap_interval,
    claim_rows,
    judge,
    order_check,
    order_table,
    seeds_needed,
    t_interval,
    verdict_table,
)
from crossmoco.experiments.claims_report import BEGIN, END, render_block, replace_block, write_claims
from crossmoco.experiments.grids import table_trials, target_rows
from crossmoco.experiments.results import load_predictions, write_predictions, write_result
from crossmoco.experiments.tables import get_row

ENV = {"hardware": "test", "commit": "abc1234", "mlflow_run_id": "run", "torch": "t", "ray": "r", "mlflow": "m",
       "date": "2026-12-07T00:00:00Z"}
BETTER, WORSE = "table3-banks2-ucla-le", "table3-banks1-ucla-le"
TOY = Claim("toy", "Table III (LE)", "two banks are best", (BETTER, WORSE), ("table3-banks2-le", "table3-banks1-le"))


def _csv(labels: list[int], predicted: list[int]) -> str:
    return "clip,label,predicted\n" + "".join(f"{i},{a},{b}\n" for i, (a, b) in enumerate(zip(labels, predicted,
                                                                                                   strict=True)))


def _keep(root, row_id: str, seed: int, correct: list[int]) -> None:
    """A figure and its predictions: clips with label 0, predicted 0 where ``correct``."""
    labels = [0] * len(correct)
    predicted = [0 if c else 1 for c in correct]
    write_result(root, get_row(row_id), "proxy", 100.0 * sum(correct) / len(correct), dataset="ucla", seed=seed,
                 overrides=() if seed == 0 else (f"seed={seed}",), **ENV)
    write_predictions(root, row_id, "proxy", seed, _csv(labels, predicted))


def test_every_claim_names_runnable_rows_and_the_papers_difference():
    assert len({c.key for c in CLAIMS}) == len(CLAIMS)
    for c in CLAIMS:
        for row_id in filter(None, c.rows):
            assert get_row(row_id).runnable, row_id
        assert c.quote and c.source
        assert (c.rows[1] is None) == (c.printed_other is not None)
    by_key = {c.key: c for c in CLAIMS}
    assert by_key["table2-crossed-vs-uncrossed-le"].paper_diff == pytest.approx(30.4 - 28.1)
    assert by_key["table3-banks2-vs-banks1-fe"].paper_diff == pytest.approx(57.3 - 47.4)
    assert by_key["table5-crossmoco-vs-skeletonclr-ucla"].paper_diff == pytest.approx(87.6 - 70.4)
    assert by_key["table6-crossmoco-vs-3s-crossclr-ucla-10pct"].paper_diff == pytest.approx(69.7 - 66.5)
    assert by_key["fig5-spatial-vs-temporal"].paper_diff is None, "Fig. 5 prints curves, no figures"
    assert by_key["table1-t0.5-s0.6-vs-t0.6-s0.6"].paper_diff == pytest.approx(-0.6), "the table contradicts the text"
    sources = {c.source.split(" (")[0] for c in CLAIMS}
    assert sources == {"Table I", "Fig. 5", "Table II", "Table III", "Table IV", "Table V", "Table VI"}


def test_the_claims_grid_runs_each_pretraining_once_per_seed():
    rows, experiment = target_rows("claims", "proxy")
    assert experiment == "claims" and {r.row_id for r in rows} == set(claim_rows("proxy"))
    trials = table_trials("claims", "proxy", [], synthetic=False, seeds=(0, 1))
    assert len(trials) == 2 * 18  # Tables I-V, Fig. 5, CrossMoCo with shear + crop, Table II with two backbones
    base = next(t for t in trials if t.name == "t0.5-s0.6-ucla-s1")
    assert base.config.seed == 1 and set(base.config.eval.protocols) == {"linear", "finetune"}
    assert "table5-crossmoco-ucla" in base.row_id and "table2-crossed-ucla-fe" in base.row_id
    assert base.config.augment.steps == ("occlusion",), "CrossMoCo's rows run the paper's mask"
    assert all(t.config.contrastive.stream_weights == {"joint": 1.0} for t in trials), "the proxy: one stream"


def test_t_interval_and_seeds_needed_by_hand():
    lo, hi = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.3027: half-width 4.3027 / sqrt(3)
    assert (lo, hi) == pytest.approx((2 - 4.3027 / math.sqrt(3), 2 + 4.3027 / math.sqrt(3)), abs=1e-3)
    # mean 2, sd 3: n = 11 gives t(0.975, 10) 3 / sqrt(11) = 2.228 x 0.9045 = 2.015 >= 2; n = 12: 2.201 x 0.866 = 1.906
    assert seeds_needed([2.0, -1.0, 5.0]) == 12
    # mean 2.2, sd 0.2 at 3 seeds: the t-interval at 3 (4.303 x 0.2 / 1.732 = 0.497) already excludes 0, so one more
    assert seeds_needed([2.0, 2.2, 2.4]) == 4
    assert seeds_needed([1.0, 1.0]) is None and seeds_needed([3.0]) is None


def test_bootstrap_of_identical_or_opposite_predictions():
    ones, zeros = np.ones(50), np.zeros(50)
    same = [Paired(100.0, ones)] * 3
    assert bootstrap_interval(same, same) == (0.0, 0.0)
    assert bootstrap_interval(same, [Paired(0.0, zeros)] * 3) == (100.0, 100.0)
    assert bootstrap_interval(same, None, printed_other=40.0) == pytest.approx((60.0, 60.0))
    half = np.array([1.0, 0.0] * 25)  # 50% correct: resampled clips spread the difference around +50
    lo, hi = bootstrap_interval(same, [Paired(50.0, half)] * 3, resamples=2000)
    assert 30 < lo < 50 < hi < 70
    no_clips = [Paired(80.0, None), Paired(82.0, None), Paired(84.0, None)]
    assert bootstrap_interval(no_clips, [Paired(80.0, None)] * 3) == pytest.approx((0.0, 4.0), abs=1e-9)


def test_verdicts_from_results_files(tmp_path):
    clips = 40
    for seed in range(MIN_SEEDS):
        _keep(tmp_path, BETTER, seed, [1] * 36 + [0] * 4)  # 90%
        _keep(tmp_path, WORSE, seed, [1] * 20 + [0] * 20)  # 50%
    verdict = judge(TOY, tmp_path)
    assert verdict.seeds == (0, 1, 2) and verdict.diffs == (40.0, 40.0, 40.0) and verdict.clips
    assert verdict.verdict == "holds" and verdict.interval[0] > 20
    assert load_predictions(tmp_path, BETTER, "proxy", 1).shape == (1, clips)
    backwards = Claim("back", "Table III (LE)", "one bank is best", (WORSE, BETTER), None)
    assert judge(backwards, tmp_path).verdict == "reversed"
    table = verdict_table([verdict])
    assert "| `toy` | Table III (LE) | 2 memory banks > 1 memory bank | proxy | +0.8 | +40.0 (0.0) |" in table
    assert '"two banks are best"' in table


def test_too_few_or_noisy_seeds_are_not_resolved(tmp_path):
    _keep(tmp_path, BETTER, 0, [1] * 30 + [0] * 10)
    _keep(tmp_path, WORSE, 0, [1] * 20 + [0] * 20)
    assert judge(TOY, tmp_path).verdict == "not resolved at 1 seed"
    _keep(tmp_path, BETTER, 1, [1] * 10 + [0] * 30)  # seed 1 reverses seed 0
    _keep(tmp_path, WORSE, 1, [1] * 20 + [0] * 20)
    _keep(tmp_path, BETTER, 2, [1] * 21 + [0] * 19)
    _keep(tmp_path, WORSE, 2, [1] * 20 + [0] * 20)
    verdict = judge(TOY, tmp_path)
    assert verdict.verdict == "not resolved at 3 seeds" and verdict.interval[0] < 0 < verdict.interval[1]
    assert "over 1000 seeds to resolve" in verdict_table([verdict]), "mean 0.8 at sd 25: no realistic seed count"
    unmeasured = Claim("none", "Table III (LE)", "q", ("table3-banks3-ucla-le", WORSE), None)
    assert judge(unmeasured, tmp_path).verdict == "not measured"


def test_the_generated_block_replaces_only_its_markers(tmp_path):
    (tmp_path / "README.md").write_text(f"intro\n{BEGIN}\nstale figures\n{END}\noutro\n")
    verdicts = [judge(TOY, tmp_path)]
    (written,) = write_claims(tmp_path, verdicts)
    text = written.read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "stale figures" not in text
    assert render_block(verdicts) in text and "not measured" in text
    with pytest.raises(ValueError, match="no <!-- claims:begin -->"):
        replace_block("no markers", "x", tmp_path / "f.md")


def test_the_order_check_compares_each_pair_of_settings_across_schedules(tmp_path):
    rows = ("table5-crossmoco-ucla", "table5-3s-skeletonclr-ucla", "table5-random-ucla")
    for profile, figures in (("proxy", (50.0, 60.0, 40.0)), ("cpu", (70.0, 80.0, 75.0))):
        for row, value in zip(rows, figures, strict=True):
            write_result(tmp_path, get_row(row), profile, value, dataset="ucla", **ENV)
    check = order_check(tmp_path, rows=rows)
    assert check.proxy["table5-random-ucla"] == (40.0, 1) and check.full["table5-crossmoco-ucla"] == (70.0, 1)
    assert [ok for *_, ok in check.pairs] == [True, False, True]  # CrossMoCo vs random: proxy above, cpu below
    assert "orders 2 of 3 pairs" in order_table(check)


def test_the_generated_blocks_of_the_repository_are_current(tmp_path):
    """README.md and docs/claims.md show what `python -m crossmoco claims --write` makes of results/ today."""
    from crossmoco.datasets.locations import REPO_ROOT
    from crossmoco.experiments.claims import judge_all
    from crossmoco.experiments.claims_report import CLAIMS_FILES

    (tmp_path / "results").symlink_to(REPO_ROOT / "results")
    (tmp_path / "docs").mkdir()
    for name in CLAIMS_FILES:
        if (REPO_ROOT / name).is_file():
            (tmp_path / name).write_text((REPO_ROOT / name).read_text())
    write_claims(tmp_path, judge_all(REPO_ROOT))
    for name in CLAIMS_FILES:
        if (REPO_ROOT / name).is_file():
            assert (tmp_path / name).read_text() == (REPO_ROOT / name).read_text(), \
                f"{name} is stale: run `python -m crossmoco claims --write`"


def test_every_departure_names_a_field_of_the_paper_profile():
    from crossmoco.experiments.departures import DEPARTURES, profile_value

    kinds = {"departs", "reading", "not reported", "as printed"}
    for d in DEPARTURES:
        profile_value(d.field)  # a KeyError names a field the config no longer has
        assert d.kind in kinds and d.paper and d.evidence, d.field
    assert profile_value("augment.steps") == ["occlusion"], "the paper profile runs the paper's mask"
