"""Clustering of scored links into entities, and the incremental link / review / new decision.

Batch: connected components over auto-match links (scipy), except that

- a cannot-link pair (a rule, or a steward's rejection) can never end up in one cluster, not
  even through a third record: inside components that contain such a pair, links are replayed
  strongest first through a union-find that refuses any union joining the two sides;
- a cluster held together by a single weak link (a bridge whose weight is within
  ``bridge_margin`` of the match threshold, joining two groups of at least two records) is cut
  at that link, and the link is flagged for review rather than merged blindly.

Incremental: :func:`decide` takes a new record's scored candidates and their current cluster
ids and returns link, review or new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph

from matching.comparisons import column_values
from matching.scoring import ScoredCandidate, ScoredPairs, weight_from_probability
from matching.spec import Thresholds

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Links:
    """Scored links between nodes ``0..n-1`` (a lighter stand-in for :class:`ScoredPairs`)."""

    left: IntArray
    right: IntArray
    probability: FloatArray
    match_weight: FloatArray
    cannot_link: npt.NDArray[np.bool_] | None = None
    must_link: npt.NDArray[np.bool_] | None = None


@dataclass(slots=True)
class Clustering:
    """Cluster label per node, plus what was refused or flagged on the way."""

    ids: list[str]
    labels: IntArray
    refused: list[tuple[str, str]] = field(default_factory=list)
    weak_bridges: list[tuple[str, str]] = field(default_factory=list)
    review: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        """Number of clusters (singletons included)."""
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def clusters(self) -> list[list[str]]:
        """Clusters as lists of ids, biggest first."""
        order = np.argsort(self.labels, kind="stable")
        bounds = np.flatnonzero(np.diff(self.labels[order])) + 1
        groups = [[self.ids[i] for i in g] for g in np.split(order, bounds)] if len(order) else []
        return sorted(groups, key=len, reverse=True)

    def cluster_of(self) -> dict[str, int]:
        """Map id -> cluster label."""
        return {i: int(lab) for i, lab in zip(self.ids, self.labels, strict=True)}


def _links_from_scored(scored: ScoredPairs) -> tuple[Links, list[str]]:
    left_ids = [str(x) for x in column_values(scored.left_frame, "id")]
    if scored.right_frame is None:
        ids, offset = left_ids, 0
    else:
        ids = left_ids + [str(x) for x in column_values(scored.right_frame, "id")]
        offset = len(left_ids)
    links = Links(
        left=scored.left,
        right=scored.right + offset,
        probability=scored.probability,
        match_weight=scored.match_weight,
        cannot_link=scored.rules.cannot_link,
        must_link=scored.rules.must_link,
    )
    return links, ids


# Up to this many nodes (one record's candidates), components are found in plain Python: the
# sparse graph's set-up costs ten times the search.
_FEW_NODES = 64


def _components(n: int, a: IntArray, b: IntArray) -> IntArray:
    """Each node's connected component, numbered by the component's lowest node.

    >>> _components(5, np.array([3, 1]), np.array([4, 0])).tolist()
    [0, 0, 1, 2, 2]
    """
    if n <= _FEW_NODES:
        parent = list(range(n))

        def root(v: int) -> int:
            while parent[v] != v:
                parent[v] = parent[parent[v]]
                v = parent[v]
            return v

        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            rx, ry = root(x), root(y)
            if rx != ry:
                parent[max(rx, ry)] = min(rx, ry)
        numbers: dict[int, int] = {}
        return np.asarray(
            [numbers.setdefault(root(v), len(numbers)) for v in range(n)], dtype=np.int64
        )
    graph = sparse.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = csgraph.connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


class _UnionFind:
    """Union-find that refuses unions joining two sides of a cannot-link pair."""

    def __init__(self, nodes: Iterable[int], cannot: Mapping[int, set[int]]) -> None:
        self.parent = {v: v for v in nodes}
        self.cannot: dict[int, set[int]] = {v: set(cannot.get(v, ())) for v in self.parent}

    def find(self, v: int) -> int:
        root = v
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[v] != root:
            self.parent[v], v = root, self.parent[v]
        return root

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        # Cannot-link is symmetric, so scanning the smaller side's partners is enough.
        small, large = (ra, rb) if len(self.cannot[ra]) <= len(self.cannot[rb]) else (rb, ra)
        if any(self.find(x) == large for x in self.cannot[small]):
            return False
        self.parent[small] = large
        self.cannot[large] |= self.cannot.pop(small)
        return True


def cluster(
    n_or_ids: int | Sequence[str] | None,
    scored_links: ScoredPairs | Links,
    *,
    cannot_link: Iterable[tuple[int, int]] | Iterable[tuple[str, str]] = (),
    thresholds: Thresholds | None = None,
    split_weak_bridges: bool = True,
) -> Clustering:
    """Cluster records from scored links, honouring cannot-link constraints.

    ``n_or_ids`` gives the nodes (a count, or the ids in node order; ``None`` takes them from
    :class:`ScoredPairs`). ``cannot_link`` pairs are node positions or ids.

    Six records; links a-b, b-c, d-e are strong, c-d is strong too but a and d may never
    merge, so the c-d link is refused; f stays alone:

    >>> links = Links(left=np.array([0, 1, 3, 2]), right=np.array([1, 2, 4, 3]),
    ...               probability=np.array([0.99, 0.99, 0.99, 0.98]),
    ...               match_weight=np.array([12.0, 11.0, 10.0, 9.0]))
    >>> result = cluster(list("abcdef"), links, cannot_link=[("a", "d")])
    >>> result.clusters(), result.refused
    ([['a', 'b', 'c'], ['d', 'e'], ['f']], [('c', 'd')])
    """
    th = thresholds
    if isinstance(scored_links, ScoredPairs):
        links, scored_ids = _links_from_scored(scored_links)
        th = th or scored_links.model.spec.thresholds
        ids = (
            scored_ids
            if n_or_ids is None or isinstance(n_or_ids, int)
            else [str(x) for x in n_or_ids]
        )
    else:
        links = scored_links
        if n_or_ids is None:
            raise ValueError("pass the number of nodes or their ids with plain links")
        ids = (
            [str(i) for i in range(n_or_ids)]
            if isinstance(n_or_ids, int)
            else [str(x) for x in n_or_ids]
        )
    th = th or Thresholds()
    n = len(ids)
    position = {v: i for i, v in enumerate(ids)}

    cannot_pairs: list[tuple[int, int]] = []
    for a, b in cannot_link:
        pa = position.get(str(a)) if not isinstance(a, int | np.integer) else int(a)
        pb = position.get(str(b)) if not isinstance(b, int | np.integer) else int(b)
        if pa is not None and pb is not None:
            cannot_pairs.append((pa, pb))
    if links.cannot_link is not None and links.cannot_link.any():
        rows = np.flatnonzero(links.cannot_link)
        cannot_pairs.extend(zip(links.left[rows].tolist(), links.right[rows].tolist(), strict=True))

    review_mask = (links.probability >= th.review) & (links.probability < th.match)
    review = [
        (ids[a], ids[b], float(p))
        for a, b, p in zip(
            links.left[review_mask].tolist(),
            links.right[review_mask].tolist(),
            links.probability[review_mask].tolist(),
            strict=True,
        )
    ]

    auto = np.flatnonzero(links.probability >= th.match)
    a_nodes, b_nodes = links.left[auto], links.right[auto]
    strength = links.match_weight[auto].astype(np.float64).copy()
    if links.must_link is not None:
        strength[links.must_link[auto]] = np.inf
    keep = np.ones(len(auto), dtype=bool)
    labels = _components(n, a_nodes, b_nodes)

    refused: list[tuple[str, str]] = []
    if cannot_pairs:
        ca = np.asarray([p[0] for p in cannot_pairs], dtype=np.int64)
        cb = np.asarray([p[1] for p in cannot_pairs], dtype=np.int64)
        conflicted = np.unique(labels[ca][labels[ca] == labels[cb]])
        if len(conflicted):
            in_conflict = np.isin(labels[a_nodes], conflicted)
            inside = np.isin(labels[ca], conflicted) & (labels[ca] == labels[cb])
            ca, cb = ca[inside], cb[inside]
            partners: dict[int, set[int]] = {}
            for x, y in zip(ca.tolist(), cb.tolist(), strict=True):
                partners.setdefault(x, set()).add(y)
                partners.setdefault(y, set()).add(x)
            edge_idx = np.flatnonzero(in_conflict)
            edge_idx = edge_idx[np.argsort(-strength[edge_idx], kind="stable")]
            nodes = np.unique(np.r_[a_nodes[edge_idx], b_nodes[edge_idx], ca, cb]).tolist()
            uf = _UnionFind(nodes, partners)
            for e in edge_idx.tolist():
                if not uf.union(int(a_nodes[e]), int(b_nodes[e])):
                    keep[e] = False
                    refused.append((ids[int(a_nodes[e])], ids[int(b_nodes[e])]))
            labels = _components(n, a_nodes[keep], b_nodes[keep])

    weak_bridges: list[tuple[str, str]] = []
    if split_weak_bridges:
        weak_limit = weight_from_probability(th.match) + th.bridge_margin
        weak = keep & (strength < weak_limit)
        if weak.any():
            cut = _weak_bridges(
                n=n,
                a_nodes=a_nodes,
                b_nodes=b_nodes,
                keep=keep,
                weak=weak,
                strength=strength,
                labels=labels,
            )
            for e in cut:
                keep[e] = False
                weak_bridges.append((ids[int(a_nodes[e])], ids[int(b_nodes[e])]))
            if cut:
                labels = _components(n, a_nodes[keep], b_nodes[keep])
    # Relabel so clusters are numbered in order of first appearance.
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return Clustering(ids, order[inverse].astype(np.int64), refused, weak_bridges, review)


def _weak_bridges(
    *,
    n: int,
    a_nodes: IntArray,
    b_nodes: IntArray,
    keep: npt.NDArray[np.bool_],
    weak: npt.NDArray[np.bool_],
    strength: FloatArray,
    labels: IntArray,
) -> list[int]:
    """Weak links that alone join two groups of at least two records each."""
    import networkx as nx

    touched = np.unique(labels[a_nodes[weak]])
    in_touched = keep & np.isin(labels[a_nodes], touched)
    graph = nx.Graph()
    edge_of: dict[tuple[int, int], int] = {}
    for e in np.flatnonzero(in_touched).tolist():
        u, v = int(a_nodes[e]), int(b_nodes[e])
        graph.add_edge(u, v)
        edge_of[(min(u, v), max(u, v))] = e
    cut: list[int] = []
    bridges = [edge_of[(min(u, v), max(u, v))] for u, v in nx.bridges(graph)]
    for e in sorted((e for e in bridges if weak[e]), key=lambda e: strength[e]):
        u, v = int(a_nodes[e]), int(b_nodes[e])
        graph.remove_edge(u, v)
        side_u = len(nx.node_connected_component(graph, u))
        side_v = len(nx.node_connected_component(graph, v))
        if min(side_u, side_v) >= 2:
            cut.append(e)
        else:
            graph.add_edge(u, v)
    _ = n
    return cut


def one_to_one(scored: ScoredPairs, *, min_probability: float | None = None) -> IntArray:
    """Keep each record's best link when linking two catalogues without internal duplicates.

    Links are accepted greedily from the strongest; a link is dropped when either record
    already has a stronger one. Returns the indices of the kept pairs.

    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(left=np.array([0, 0, 1]), right=np.array([0, 1, 1]),
    ...                        match_weight=np.array([5.0, 7.0, 6.0]),
    ...                        probability=np.array([0.9, 0.99, 0.95]),
    ...                        model=SimpleNamespace(spec=SimpleNamespace(
    ...                            thresholds=Thresholds(match=0.9, review=0.5))))
    >>> one_to_one(fake).tolist()
    [1]
    """
    floor = scored.model.spec.thresholds.review if min_probability is None else min_probability
    idx = np.flatnonzero(scored.probability >= floor)
    idx = idx[np.argsort(-scored.match_weight[idx], kind="stable")]
    used_left: set[int] = set()
    used_right: set[int] = set()
    kept: list[int] = []
    for i in idx.tolist():
        a, b = int(scored.left[i]), int(scored.right[i])
        if a in used_left or b in used_right:
            continue
        used_left.add(a)
        used_right.add(b)
        kept.append(i)
    return np.asarray(sorted(kept), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a new record: link to ``target``, send to review, or make it new."""

    kind: Literal["link", "review", "new"]
    target: str | None
    probability: float
    reason: str
    clusters: dict[str, float] = field(default_factory=dict)


def decide(
    scored_candidates: Sequence[ScoredCandidate],
    candidate_cluster_ids: Mapping[str, str],
    thresholds: Thresholds,
    cannot_link: Iterable[str] = (),
) -> Decision:
    """Decide link / review / new for one record from its scored candidates.

    ``candidate_cluster_ids`` maps candidate record id -> current cluster (golden) id;
    ``cannot_link`` lists cluster or record ids the record must never join (e.g. a steward
    rejected them). A record that matches two different clusters goes to review, because
    linking it would merge them.

    >>> from types import SimpleNamespace as C
    >>> cands = [C(candidate_id="r1", probability=0.99, cannot_link=False),
    ...          C(candidate_id="r2", probability=0.70, cannot_link=False)]
    >>> th = Thresholds(match=0.95, review=0.6)
    >>> decide(cands, {"r1": "g1", "r2": "g2"}, th).kind
    'link'
    >>> decide(cands, {"r1": "g1", "r2": "g2"}, th, cannot_link=["g1"]).kind
    'review'
    """
    blocked = set(cannot_link)
    best: dict[str, float] = {}
    barred: set[str] = set()
    for cand in scored_candidates:
        cid = str(cand.candidate_id)
        cluster_id = str(candidate_cluster_ids.get(cid, cid))
        if cand.cannot_link or cid in blocked or cluster_id in blocked:
            barred.add(cluster_id)
        best[cluster_id] = max(best.get(cluster_id, 0.0), float(cand.probability))
    eligible = {k: v for k, v in best.items() if k not in barred}
    ranked = sorted(eligible.items(), key=lambda kv: -kv[1])
    above = [k for k, v in ranked if v >= thresholds.match]
    if len(above) == 1:
        return Decision(
            "link", above[0], eligible[above[0]], "one cluster above the match threshold", best
        )
    if len(above) > 1:
        return Decision(
            "review",
            above[0],
            eligible[above[0]],
            f"{len(above)} clusters above the match threshold: linking would merge them",
            best,
        )
    if ranked and ranked[0][1] >= thresholds.review:
        return Decision(
            "review", ranked[0][0], ranked[0][1], "best cluster in the review band", best
        )
    strongest_barred = max((best[k] for k in barred), default=0.0)
    reason = (
        "only cannot-link clusters scored high"
        if strongest_barred >= thresholds.review
        else "no cluster above the review threshold"
    )
    return Decision("new", None, ranked[0][1] if ranked else 0.0, reason, best)
