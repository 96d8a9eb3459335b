"""The paper's tables as data: every row applies to every profile, ids are stable, figures are as printed."""

from __future__ import annotations

import re

import pytest

from crossmoco.datasets.config import OcclusionConfig
from crossmoco.experiments.rows import SPLITS, TABLE_IDS, TableRow
from crossmoco.experiments.tables import ROWS, TABLE_NOTES, control_of, get_row, rows_of
from crossmoco.pipeline.config_file import PROFILES, load_config
from crossmoco.training.config import Config

PROFILE_NAMES = [None, *sorted(PROFILES)]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.row_id)
def test_every_row_applies_to_the_base_and_every_profile(row: TableRow):
    for profile in PROFILE_NAMES:
        cfg = row.config(load_config(profile))
        assert (cfg.data.dataset, cfg.data.split) == (row.dataset, row.split), profile
        assert cfg.eval.protocols == (row.protocol,), profile
    assert row.config() == row.config(Config())


def test_row_ids_are_unique_stable_and_well_formed():
    ids = [row.row_id for row in ROWS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"table[1-7]-[a-z0-9][a-z0-9.\-]*", i) for i in ids)
    examples = (
        "table1-t0.5-s0.6", "table2-crossed-fe", "table3-banks2-le", "table4-mlp3-le", "table5-crossmoco-ucla",
        "table5-crossmoco-ntu60-xview", "table6-crossmoco-ucla-1pct", "table6-crossmoco-ntu60-xview-10pct",
        "table7-3s-st-gcn-pku", "table7-skeletonclr-ntu60-xsub",
    )  # fmt: skip
    for i in examples:
        assert get_row(i).row_id == i


def test_every_table_is_present_with_all_its_printed_cells():
    counts = {t: len(rows_of(t)) for t in TABLE_IDS}
    # I: 5 rate pairs on PKU-MMD II, the same 5 and Fig. 5's two single masks on NW-UCLA (the claims); II-IV: 4/3/3
    # settings x (LE, FE) x (PKU-MMD II, NW-UCLA), and II's two pairs with two backbones on NW-UCLA x (LE, FE);
    # V: 10 methods x 3 + CrossMoCo with shear + crop x 3 + 2 controls
    # x 3; VI: (5 methods + CrossMoCo with shear + crop) x 2 fractions x 3 + 1 control x 2 x 3; VII: 6 x 3
    assert counts == {"I": 12, "II": 20, "III": 12, "IV": 12, "V": 39, "VI": 42, "VII": 18}
    assert len(ROWS) == sum(counts.values())


@pytest.mark.parametrize(
    ("row_id", "paper"),
    [
        ("table1-t0.6-s0.6", 30.4),  # the table's best cell
        ("table1-t0.5-s0.6", 29.8),  # the text's choice
        ("table1-t0.2-s0.2", 15.8),
        ("table2-gcn-le", 30.0),
        ("table2-uncrossed-fe", 50.9),
        ("table3-banks2-le", 30.4),
        ("table3-banks2-fe", 57.3),
        ("table3-banks3-fe", 50.1),
        ("table4-mlp2-le", 23.8),
        ("table5-crossmoco-ucla", 87.6),
        ("table5-crossmoco-ntu60-xview", 84.9),
        ("table5-crossmoco-ntu60-xsub", 78.4),
        ("table5-3s-skeletonclr-ucla", 70.4),
        ("table5-p-c-ntu60-xsub", 50.7),
        ("table6-crossmoco-ucla-1pct", 31.4),
        ("table6-crossmoco-ucla-10pct", 69.7),
        ("table6-crossmoco-ntu60-xview-1pct", 21.7),
        ("table6-3s-crossclr-pku-10pct", 21.1),
        ("table6-ms2l-pku-10pct", 26.1),
        ("table7-crossmoco-pku", 57.3),
        ("table7-3s-st-gcn-ntu60-xview", 91.4),
        ("table7-skeletonclr-pku", 37.7),
    ],
)
def test_paper_figures_as_printed(row_id: str, paper: float):
    assert get_row(row_id).paper_value == paper


def test_dashes_are_not_reported_figures():
    assert get_row("table5-3s-aimclr-ucla").paper_value is None
    assert get_row("table6-ms2l-pku-1pct").paper_value is None
    assert get_row("table7-auto-encoder-pku").paper_value is None


def test_runnable_rows_are_exactly_the_methods_the_project_implements():
    runnable = {row.method_name for row in ROWS if row.runnable}
    assert runnable == {"CrossMoCo", "3s-SkeletonCLR", "SkeletonCLR", "3s-ST-GCN", "Random-init encoders (control)",
                        "Supervised ST-GCN (control)", "CrossMoCo, shear + crop instead of the mask"}
    for row in ROWS:
        method = row.config().method
        assert row.is_control == ("(control)" in row.method_name)
        if row.runnable:
            expected = {"3s-SkeletonCLR": "skeletonclr", "SkeletonCLR": "skeletonclr", "3s-ST-GCN": "supervised",
                        "Random-init encoders (control)": "random", "Supervised ST-GCN (control)": "supervised"}
            assert method == expected.get(row.method_name, "crossmoco"), row.row_id
        else:
            assert "not implement" in row.note and row.method_name in row.note, row.row_id


def test_stream_choices_follow_the_3s_prefix():
    single = get_row("table7-skeletonclr-ntu60-xview").config()
    assert single.contrastive.stream_weights == {"joint": 1.0} and single.eval.streams == "joint"
    assert single.augment.steps == ("shear", "crop")
    three = get_row("table5-3s-skeletonclr-ntu60-xview").config()
    assert set(three.contrastive.stream_weights) == {"joint", "motion", "bone"}


def test_table_i_rates_and_its_contradiction_are_recorded():
    for row in rows_of("I"):
        if row.dataset != "pku":
            continue
        t, s = (float(x) for x in re.fullmatch(r"t([\d.]+)-s([\d.]+)", row.key).groups())
        occ = row.config().augment.occlusion
        assert (occ.temporal_rate, occ.spatial_rate) == (t, s)
        assert row.config().augment.steps == ("occlusion",), "Table I varies the paper's mask"
        assert row.protocol == "linear" and row.dataset == "pku"
    best = max((r for r in rows_of("I") if r.paper_value is not None), key=lambda r: r.paper_value)
    assert best.row_id == "table1-t0.6-s0.6"
    default = OcclusionConfig()
    assert (default.temporal_rate, default.spatial_rate) == (0.5, 0.6), "the defaults follow the text"
    assert get_row("table1-t0.5-s0.6").config().augment.occlusion == Config().augment.occlusion
    assert "(0.6, 0.6) = 30.4" in TABLE_NOTES["I"] and "(0.5, 0.6) = 29.8" in TABLE_NOTES["I"]


def test_ablation_rows_set_their_variable_and_protocol():
    assert {r.config().contrastive.encoders for r in rows_of("II")} == {"gcn", "mlp", "uncrossed", "crossed"}
    assert {r.config().contrastive.num_banks for r in rows_of("III")} == {1, 2, 3}
    assert {r.config().encoder.mlp_layers for r in rows_of("IV")} == {1, 2, 3}
    for row in rows_of("II") + rows_of("III") + rows_of("IV"):
        assert (row.column.removeprefix("NW-UCLA "), row.protocol) in {("LE", "linear"), ("FE", "finetune")}
        assert (row.dataset, row.split) == (("ucla", "xview") if row.key.endswith(("-ucla-le", "-ucla-fe"))
                                            else ("pku", "xsub"))
        assert (row.paper_value is None) == (row.dataset == "ucla"), "the paper printed PKU-MMD II's figures only"


def test_semi_rows_carry_their_label_fraction():
    for row in rows_of("VI"):
        fraction = 0.01 if row.key.endswith("-1pct") else 0.1
        assert row.key.endswith(("-1pct", "-10pct"))
        assert row.config().eval.semi_fractions == (fraction,)
        assert row.protocol == "semi"


def test_datasets_and_splits():
    pairs = {(r.dataset, r.split) for r in ROWS}
    assert pairs == {("pku", "xsub"), ("ntu60", "xview"), ("ntu60", "xsub"), ("ucla", "xview")}
    assert {r.dataset for r in rows_of("V")} == {"ntu60", "ucla"}
    assert {r.protocol for r in rows_of("V")} == {"linear"} and {r.protocol for r in rows_of("VII")} == {"finetune"}
    assert SPLITS["ucla"] == ("xview",)


def test_lookup_errors_name_near_matches():
    with pytest.raises(KeyError, match="table5-crossmoco-ucla"):
        get_row("table5-crossmoco-ucl")
    with pytest.raises(KeyError, match="unknown table"):
        rows_of("VIII")
    assert rows_of(5) == rows_of("v") == rows_of("5") == rows_of("V")


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"key": "Bad Key"}, "lower-case"),
        ({"split": "xview"}, "split 'xview'"),
        ({"paper_value": 130.0}, "not a percentage"),
        ({"runnable": False, "note": ""}, "must say why"),
        ({"table": "VIII"}, "not one of"),
    ],
)
def test_a_row_validates_itself(changes, needle):
    fields = dict(table="I", key="x", label="x", column="x", method_name="CrossMoCo", dataset="pku", split="xsub",
                  protocol="linear", paper_value=1.0, overrides=(), runnable=True)  # fmt: skip
    with pytest.raises(ValueError, match=re.escape(needle)):
        TableRow(**{**fields, **changes})


def test_each_self_supervised_row_of_tables_v_and_vi_has_the_random_control_of_its_column():
    assert control_of(get_row("table5-crossmoco-ucla")).row_id == "table5-random-ucla"
    assert control_of(get_row("table5-3s-skeletonclr-ntu60-xsub")).row_id == "table5-random-ntu60-xsub"
    assert control_of(get_row("table6-crossmoco-ucla-1pct")).row_id == "table6-random-ucla-1pct"
    assert control_of(get_row("table6-crossmoco-pku-10pct")).row_id == "table6-random-pku-10pct"
    for row_id in ("table5-random-ucla", "table5-supervised-ucla", "table1-t0.5-s0.6", "table7-crossmoco-pku"):
        assert control_of(get_row(row_id)) is None, row_id  # a control itself; tables without a control row
    for row in ROWS:
        control = control_of(row)
        if control is not None:
            assert (control.table, control.column, control.protocol) == (row.table, row.column, row.protocol)
            assert (control.dataset, control.split) == (row.dataset, row.split)
            assert "method=random" in control.overrides


def test_crossmoco_rows_run_the_papers_mask_and_the_shear_crop_rows_say_they_do_not():
    assert get_row("table5-crossmoco-ucla").config().augment.steps == ("occlusion",)
    assert get_row("table6-crossmoco-ucla-1pct").config().augment.steps == ("occlusion",)
    assert get_row("table2-gcn-le").config().augment.steps == ("occlusion",)
    other = get_row("table5-crossmoco-shear-crop-ucla")
    assert other.config().augment.steps == ("shear", "crop") and other.paper_value is None
    assert other.config().method == "crossmoco" and "not a row of the paper" in other.note


def test_fig5_single_masks_on_ucla_follow_the_reading():
    from crossmoco.experiments.tables import single_mask

    spatial = get_row("table1-spatial-only-ucla").config().augment.occlusion
    temporal = get_row("table1-temporal-only-ucla").config().augment.occlusion
    assert (temporal.reading, temporal.spatial_rate, temporal.temporal_rate) == ("every_frame_and_blank", 0.0, 0.5)
    assert spatial.temporal_rate == 0.0 or spatial.reading == "random_rate_every_frame"
    assert single_mask("spatial", "random_rate_in_selected_frames") == (
        "augment.occlusion.reading=random_rate_every_frame",)
    with pytest.raises(ValueError, match="single mask"):
        single_mask("both", "in_selected_frames")
