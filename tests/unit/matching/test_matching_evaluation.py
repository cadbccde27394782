"""Evaluation metrics on hand-counted examples."""

from __future__ import annotations

import pytest

import matching as m


def test_pairwise_metrics_hand_counted() -> None:
    truth = [("a", "b"), ("a", "c"), ("b", "c"), ("d", "e")]
    predicted = [("b", "a"), ("c", "b"), ("e", "f"), ("a", "a")]  # self-pair ignored
    metrics = m.evaluate_pairs(predicted, truth)
    assert (metrics.true_positives, metrics.false_positives, metrics.false_negatives) == (2, 1, 2)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(0.5)
    assert metrics.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_bcubed_hand_counted() -> None:
    # Truth {a b c} {d e} {f}; predicted {a b} {c d e} {f}.
    truth = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2, "f": 3}
    pred = {"a": "x", "b": "x", "c": "y", "d": "y", "e": "y", "f": "z"}
    metrics = m.evaluate_clusters(pred, truth)
    # precision: a,b 1; c 1/3; d,e 2/3; f 1 -> (2 + 1/3 + 4/3 + 1) / 6
    assert metrics.precision == pytest.approx((2 + 1 / 3 + 4 / 3 + 1) / 6)
    # recall: a,b 2/3; c 1/3; d,e 1; f 1 -> (4/3 + 1/3 + 2 + 1) / 6
    assert metrics.recall == pytest.approx((4 / 3 + 1 / 3 + 2 + 1) / 6)
    perfect = m.evaluate_clusters(truth, truth)
    assert perfect.f1 == 1.0


def test_pairs_from_clusters_and_blocking_metrics() -> None:
    labels = {"a": 1, "b": 1, "c": 1, "d": 2}
    assert m.pairs_from_clusters(labels) == {("a", "b"), ("a", "c"), ("b", "c")}
    metrics = m.blocking_metrics([("a", "b"), ("c", "d")], m.pairs_from_clusters(labels), 6)
    assert metrics.pair_completeness == pytest.approx(1 / 3)
    assert metrics.reduction_ratio == pytest.approx(2 / 3)
