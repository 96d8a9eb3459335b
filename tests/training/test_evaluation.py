"""Evaluation maths: scores, stratified subsets, kNN; the protocols on tiny random data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossmoco.datasets.skeleton import ntu_layout
from crossmoco.pipeline.config_file import load_config
from crossmoco.training.evaluation import (
    EnsembleHead,
    Epochs,
    _train_classifier,
    class_scores,
    classification_loss,
    finetune_protocol,
    knn_protocol,
    knn_scores,
    linear_protocol,
    linear_schedule,
    scores,
    semi_protocol,
    stratified_subset,
)
from crossmoco.training.metrics import TEST_TOP1, TRAIN_LOSS, semi_name
from crossmoco.training.modeling import DataInfo, build_pretrain_model

INFO = DataInfo.of("synthetic", ntu_layout(), 3, "test")


def test_scores_by_hand():
    logits = np.array([[3, 2, 1], [1, 3, 2], [3, 1, 2], [1, 2, 3]], dtype=float)
    labels = np.array([0, 1, 1, 2])
    top1, top5, per_class, confusion = scores(logits, labels, 3)
    assert top1 == pytest.approx(75.0) and top5 == pytest.approx(100.0)
    assert per_class == pytest.approx([100.0, 50.0, 100.0])
    np.testing.assert_array_equal(confusion, [[1, 0, 0], [1, 1, 0], [0, 0, 1]])


def test_stratified_subset_keeps_every_class_and_is_seeded():
    labels = np.repeat(np.arange(5), [100, 50, 10, 3, 1])
    idx = stratified_subset(labels, 0.1, seed=3)
    counts = np.bincount(labels[idx], minlength=5)
    np.testing.assert_array_equal(counts, [10, 5, 1, 1, 1])
    np.testing.assert_array_equal(idx, stratified_subset(labels, 0.1, seed=3))
    assert not np.array_equal(idx, stratified_subset(labels, 0.1, seed=4))


def test_semi_names():
    assert semi_name(0.01) == "semi1" and semi_name(0.1) == "semi10" and semi_name(0.005) == "semi0p5"


def test_knn_scores_vote_by_similarity():
    bank = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0]]), dim=1)
    labels = torch.tensor([0, 0, 1])
    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.05], [0.0, 1.0]]), dim=1)
    assert knn_scores(bank, labels, q, 2, k=1).argmax(1).tolist() == [0, 1]


TINY = ["eval.linear_epochs=10", "eval.finetune_epochs=1", "eval.semi_epochs=1", "eval.batch_size=8",
        "eval.semi_fractions=0.5"]


@pytest.fixture(scope="module")
def tiny():
    cfg = load_config("smoke", TINY)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 6)
    x = (rng.normal(size=(18, 3, 8, 25, 2)) + y[:, None, None, None, None]).astype(np.float32)
    torch.manual_seed(0)
    return cfg, build_pretrain_model(cfg, INFO), (x, y), (x.copy(), y.copy())


def test_linear_protocol_learns_an_easy_task(tiny):
    cfg, model, train, test = tiny
    res = linear_protocol(model, train, test, cfg, INFO, torch.device("cpu"))
    assert res.protocol == "linear" and len(res.curves) == 10
    assert res.top1 > 60 and res.confusion.sum() == 18 and res.test_features.shape[0] == 18


def test_finetune_semi_knn_protocols_run(tiny):
    cfg, model, train, test = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fine = finetune_protocol(model, train, test, cfg, INFO, torch.device("cpu"))
    assert fine.protocol == "finetune" and 0 <= fine.top1 <= 100
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "fine-tuning must copy the model"
    semi = semi_protocol(model, train, test, cfg, INFO, torch.device("cpu"), 0.5)
    assert semi.protocol == "semi50"
    knn = knn_protocol(model, train, test, cfg, INFO, torch.device("cpu"))
    assert knn.top1 == pytest.approx(100.0), "each test sample is in the bank: its own nearest neighbour"



def test_lp_ft_starts_as_the_linear_probe_and_keeps_the_encoders_normalisation(tiny):
    cfg, model, train, test = tiny
    probe = linear_protocol(model, train, test, cfg, INFO, torch.device("cpu"))
    lp_ft = load_config("smoke", ["eval.linear_epochs=10", "eval.finetune_epochs=1", "eval.batch_size=8",
                                  "eval.finetune_start=linear_probe", "eval.finetune_lr=0"])
    still = finetune_protocol(model, train, test, lp_ft, INFO, torch.device("cpu"))
    # lr 0: the head is the probe, its standardisation folded into the weights, and the training
    # passes left the encoders' BatchNorm statistics as pretrained (training mode would move them)
    np.testing.assert_array_equal(still.confusion, probe.confusion)
    paper = load_config("smoke", ["eval.finetune_epochs=1", "eval.batch_size=8", "eval.finetune_start=random_head"])
    assert 0 <= finetune_protocol(model, train, test, paper, INFO, torch.device("cpu")).top1 <= 100
    with pytest.raises(ValueError, match="finetune_encoder_lr_scale"):
        load_config("smoke", ["eval.finetune_encoder_lr_scale=-1"])


@pytest.mark.parametrize(("kind", "lrs"), [
    ("constant", [0.1] * 10),
    ("step", [0.1] * 8 + [0.01] * 2),  # CrosSCLR: x0.1 at 80% of the epochs
    ("cosine", [0.05 * (1 + np.cos(np.pi * e / 10)) for e in range(10)]),
])
def test_linear_schedule_sets_each_epochs_lr(kind, lrs):
    cfg = load_config("smoke", ["eval.linear_epochs=10", "eval.linear_lr=0.1", f"eval.linear_schedule={kind}"])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = linear_schedule(opt, cfg)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    assert seen == pytest.approx(lrs)


def test_linear_weight_decay_shrinks_the_probe(tiny):
    _cfg, model, train, test = tiny
    losses = {}
    for wd in (0.0, 0.5):
        c = load_config("smoke", ["eval.linear_epochs=10", "eval.batch_size=8", f"eval.linear_weight_decay={wd}"])
        res = linear_protocol(model, train, test, c, INFO, torch.device("cpu"))
        losses[wd] = res.curves[-1][TRAIN_LOSS]
    assert losses[0.5] > losses[0.0], "a strong decay keeps the probe from fitting the training set as well"
    with pytest.raises(ValueError, match="linear_weight_decay"):
        load_config("smoke", ["eval.linear_weight_decay=-1"])
    with pytest.raises(ValueError, match="linear_schedule"):
        load_config("smoke", ["eval.linear_schedule=poly"])


def test_curve_points_read_the_test_split_without_changing_the_fine_tuning(tiny):
    """``eval.eval_every`` only decides how many test passes the curve gets: the figure is the same."""
    _, model, train, test = tiny
    cpu = torch.device("cpu")
    every = {n: finetune_protocol(model, train, test, load_config("smoke", [*TINY, "eval.finetune_epochs=4",
                                                                           f"eval.eval_every={n}"]), INFO, cpu)
             for n in (1, 3)}  # fmt: skip
    assert [TEST_TOP1 in row for row in every[1].curves] == [True] * 4
    assert [TEST_TOP1 in row for row in every[3].curves] == [False, False, True, True]  # every 3rd and the last
    np.testing.assert_array_equal(every[1].confusion, every[3].confusion)
    assert [r[TRAIN_LOSS] for r in every[1].curves] == [r[TRAIN_LOSS] for r in every[3].curves]


def test_semi_subsets_average_the_single_subset_runs(tiny):
    _, model, train, test = tiny
    cpu = torch.device("cpu")
    singles = [semi_protocol(model, train, test, load_config("smoke", [*TINY, f"seed={s}"]), INFO, cpu, 0.5)
               for s in (4, 5, 6)]  # fmt: skip
    three = semi_protocol(model, train, test, load_config("smoke", [*TINY, "seed=4", "eval.semi_subsets=3"]),
                          INFO, cpu, 0.5)  # fmt: skip
    top1 = [r.top1 for r in singles]
    assert three.top1 == pytest.approx(np.mean(top1))
    assert three.top5 == pytest.approx(np.mean([r.top5 for r in singles]))
    np.testing.assert_array_equal(three.confusion, sum(r.confusion for r in singles))
    m = three.metrics()
    assert [m[f"semi50_subset{i}_top1"] for i in range(3)] == pytest.approx(top1)
    assert m["semi50_subset_std_top1"] == pytest.approx(np.std(top1, ddof=1))
    assert three.curves[0]["epoch"] == 1.0 and len(three.curves) == len(singles[0].curves)
    with pytest.raises(ValueError, match="semi_subsets"):
        load_config("smoke", ["eval.semi_subsets=0"])


def test_ensemble_scores_sum_the_streams_softmax_by_hand():
    # two streams, two classes: stream 0 says class 0 at p = 0.7311 (logits 1 vs 0), stream 1 says class 1 at
    # p = 0.8808 (0 vs 2): summed softmax 0.7311 + 0.1192 = 0.8503 vs 0.2689 + 0.8808 = 1.1497 -> class 1
    logits = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    torch.testing.assert_close(class_scores(logits), torch.tensor([[0.8503, 1.1497]]), atol=1e-4, rtol=0)
    # the loss for class 1 sums the streams' cross-entropies: -log 0.2689 - log 0.8808 = 1.3133 + 0.1269
    assert float(classification_loss(logits, torch.tensor([1]))) == pytest.approx(1.3133 + 0.1269, abs=1e-4)


def test_ensemble_heads_train_as_if_apart():
    """eval.combine=ensemble: each stream's head, trained on the concatenation with the summed loss,
    ends where that head alone on its stream's features ends (same init, batches, optimiser)."""
    rng = np.random.default_rng(0)
    feats, labels = rng.normal(size=(24, 2 * 5)).astype(np.float32), rng.integers(0, 3, 24)

    def fit(head, xs):
        opt = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        _train_classifier(head, [head], opt, (xs, labels), lambda: 0.0, Epochs(3, 8, 0, "t"))
        return head

    torch.manual_seed(0)
    both = EnsembleHead(2, 10, 3)
    alone = []
    for s in range(2):
        one = EnsembleHead(1, 5, 3)
        with torch.no_grad():
            one.fc.weight.copy_(both.fc.weight[s : s + 1])
            one.fc.bias.copy_(both.fc.bias[s : s + 1])
        alone.append(fit(one, np.ascontiguousarray(feats[:, 5 * s : 5 * s + 5])))
    fit(both, feats)
    for s in range(2):
        torch.testing.assert_close(both.fc.weight[s], alone[s].fc.weight[0])
        torch.testing.assert_close(both.fc.bias[s], alone[s].fc.bias[0])


def test_ensemble_protocols_run(tiny):
    _, model, train, test = tiny
    cfg = load_config("smoke", [*TINY, "eval.combine=ensemble"])
    res = linear_protocol(model, train, test, cfg, INFO, torch.device("cpu"))
    assert res.top1 > 60 and res.confusion.sum() == 18
    assert 0 <= finetune_protocol(model, train, test, cfg, INFO, torch.device("cpu")).top1 <= 100
    lp_ft = load_config("smoke", [*TINY, "eval.combine=ensemble", "eval.finetune_start=linear_probe",
                                  "eval.finetune_lr=0"])
    still = finetune_protocol(model, train, test, lp_ft, INFO, torch.device("cpu"))
    np.testing.assert_array_equal(still.confusion, res.confusion)  # LP-FT starts from the ensemble probe


def test_standardizing_and_recalibrating_change_what_the_probe_reads(tiny):
    from crossmoco.training.evaluation import frozen_encoder

    _cfg, model, train, test = tiny
    losses = {}
    for on in ("true", "false"):
        c = load_config("smoke", ["eval.linear_epochs=2", "eval.batch_size=8", f"eval.linear_standardize={on}"])
        losses[on] = linear_protocol(model, train, test, c, INFO, torch.device("cpu")).curves[0][TRAIN_LOSS]
    assert losses["true"] != pytest.approx(losses["false"])
    raw = load_config("smoke", ["eval.bn_recalibrate=false"])
    assert frozen_encoder(model, train[0], raw, INFO, torch.device("cpu")) is model  # the pretrained statistics
    assert frozen_encoder(model, train[0], load_config("smoke"), INFO, torch.device("cpu")) is not model
