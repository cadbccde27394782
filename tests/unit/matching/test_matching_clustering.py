"""Clustering with cannot-link constraints and weak bridges; incremental decisions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import matching as m
from matching.clustering import Links
from matching.spec import Thresholds

TH = Thresholds(match=0.9, review=0.5, bridge_margin=3.0)


def links(edges: list[tuple[int, int, float]]) -> Links:
    a = np.array([e[0] for e in edges])
    b = np.array([e[1] for e in edges])
    w = np.array([e[2] for e in edges], dtype=float)
    return Links(a, b, 1 / (1 + 2.0**-w), w)


def test_connected_components_over_auto_links_only() -> None:
    # 6 records: 0-1 strong, 1-2 strong, 3-4 in the review band (weight 1 -> p 0.67), 5 alone.
    result = m.cluster(list("abcdef"), links([(0, 1, 12), (1, 2, 11), (3, 4, 1)]), thresholds=TH)
    assert result.clusters() == [["a", "b", "c"], ["d"], ["e"], ["f"]]
    assert [(x, y) for x, y, _ in result.review] == [("d", "e")]


def test_cannot_link_is_never_merged_around_through_a_third_record() -> None:
    # a-b and b-c are strong, but a and c were rejected by a steward: the weaker of the two
    # links into the conflict (b-c) is refused; c stays with d.
    edges = [(0, 1, 12), (1, 2, 10), (2, 3, 15)]
    result = m.cluster(list("abcd"), links(edges), cannot_link=[("a", "c")], thresholds=TH)
    assert result.clusters() == [["a", "b"], ["c", "d"]]
    assert result.refused == [("b", "c")]
    labels = result.cluster_of()
    assert labels["a"] != labels["c"]


def test_weak_bridge_between_two_groups_is_cut_and_flagged() -> None:
    # Two solid pairs {a,b} and {c,d} joined only by b-c at weight 5, under
    # the match weight (log2(0.9/0.1) = 3.17) + margin 3.
    edges = [(0, 1, 20), (2, 3, 20), (1, 2, 5)]
    result = m.cluster(list("abcd"), links(edges), thresholds=TH)
    assert result.clusters() == [["a", "b"], ["c", "d"]]
    assert result.weak_bridges == [("b", "c")]
    # A lone record hanging on by one weak link is ordinary and stays.
    alone = m.cluster(list("abc"), links([(0, 1, 20), (1, 2, 5)]), thresholds=TH)
    assert alone.clusters() == [["a", "b", "c"]]
    # A strong bridge is kept.
    strong = m.cluster(list("abcd"), links([(0, 1, 20), (2, 3, 20), (1, 2, 9)]), thresholds=TH)
    assert strong.n_clusters == 1


def test_one_to_one_keeps_best_mutual_links() -> None:
    fake = SimpleNamespace(
        left=np.array([0, 0, 1, 1, 2]),
        right=np.array([0, 1, 0, 1, 2]),
        match_weight=np.array([9.0, 8.0, 8.5, 3.0, 1.0]),
        probability=np.array([0.99, 0.98, 0.98, 0.9, 0.6]),
        model=SimpleNamespace(spec=SimpleNamespace(thresholds=TH)),
    )
    # 0-0 (9) first; then 1-0 and 0-1 are taken; 1-1 (3) kept; 2-2 above review kept.
    assert m.one_to_one(fake).tolist() == [0, 3, 4]


def cand(cid: str, p: float, cannot: bool = False) -> SimpleNamespace:
    return SimpleNamespace(candidate_id=cid, probability=p, cannot_link=cannot)


def test_decide_link_review_new() -> None:
    clusters = {"r1": "g1", "r2": "g1", "r3": "g2"}
    th = Thresholds(match=0.95, review=0.6)
    assert m.decide([cand("r1", 0.99), cand("r3", 0.3)], clusters, th).target == "g1"
    # Two clusters above the threshold: linking would merge them, so a steward decides.
    both = m.decide([cand("r1", 0.99), cand("r3", 0.97)], clusters, th)
    assert (both.kind, both.target) == ("review", "g1")
    assert m.decide([cand("r3", 0.7)], clusters, th).kind == "review"
    assert m.decide([cand("r3", 0.2)], clusters, th).kind == "new"
    assert m.decide([], clusters, th).kind == "new"
    # A rule-fired cannot-link on any member bars the whole cluster.
    barred = m.decide([cand("r1", 0.99), cand("r2", 0.99, cannot=True)], clusters, th)
    assert barred.kind == "new"
    assert barred.reason == "only cannot-link clusters scored high"
    assert m.decide([cand("r1", 0.99)], clusters, th, cannot_link=["g1"]).kind == "new"


def test_cluster_from_scored_pairs_uses_rule_cannot_links(customers, customer_model) -> None:
    spec = customer_model.spec
    std = m.standardise(customers, spec)
    scored = m.score(customer_model, std, None, m.candidate_pairs(std, spec))
    result = m.cluster(None, scored)
    truth = {r["id"]: r["entity_id"] for r in customers}
    metrics = m.evaluate_clusters(result.cluster_of(), truth)
    assert metrics.precision == 1.0
    assert metrics.recall > 0.95


def test_a_few_nodes_get_the_components_and_numbers_the_sparse_graph_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from matching import clustering

    rng = np.random.default_rng(3)
    graphs = [(1, [], []), (4, [0, 3, 3], [0, 2, 1]), (6, [5], [4])]
    for _ in range(200):
        n = int(rng.integers(1, 40))
        m = int(rng.integers(0, 2 * n))
        graphs.append((n, rng.integers(0, n, m).tolist(), rng.integers(0, n, m).tolist()))
    few = [
        clustering._components(n, np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))
        for n, a, b in graphs
    ]
    monkeypatch.setattr(clustering, "_FEW_NODES", 0)
    for (n, a, b), labels in zip(graphs, few, strict=True):
        sparse = clustering._components(n, np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))
        assert labels.tolist() == sparse.tolist()
