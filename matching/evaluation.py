"""Evaluation against known truth: pairwise, B-cubed cluster and blocking metrics."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass(frozen=True, slots=True)
class PairMetrics:
    """Pairwise confusion counts and scores."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """Share of predicted pairs that are true."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of true pairs that were predicted."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        return _f1(self.precision, self.recall)


def _normalise_pairs(pairs: Iterable[tuple[Hashable, Hashable]]) -> set[tuple[str, str]]:
    out = set()
    for a, b in pairs:
        x, y = str(a), str(b)
        if x != y:
            out.add((x, y) if x < y else (y, x))
    return out


def evaluate_pairs(
    predicted: Iterable[tuple[Hashable, Hashable]], truth: Iterable[tuple[Hashable, Hashable]]
) -> PairMetrics:
    """Compare predicted record pairs with true pairs (order within a pair is ignored).

    >>> m = evaluate_pairs([("a", "b"), ("c", "d")], [("b", "a"), ("a", "c")])
    >>> m.true_positives, m.precision, m.recall
    (1, 0.5, 0.5)
    """
    p, t = _normalise_pairs(predicted), _normalise_pairs(truth)
    tp = len(p & t)
    return PairMetrics(tp, len(p) - tp, len(t) - tp)


def pairs_from_clusters(labels: Mapping[Hashable, Hashable]) -> set[tuple[str, str]]:
    """All within-cluster record pairs of a labelling (id -> cluster).

    >>> sorted(pairs_from_clusters({"a": 1, "b": 1, "c": 2}))
    [('a', 'b')]
    """
    frame = pd.DataFrame({"id": [str(k) for k in labels], "c": list(labels.values())})
    sizes = frame.groupby("c")["id"].transform("size")
    frame = frame[sizes > 1]
    joined = frame.merge(frame, on="c")
    joined = joined[joined["id_x"] < joined["id_y"]]
    return set(zip(joined["id_x"], joined["id_y"], strict=True))


@dataclass(frozen=True, slots=True)
class ClusterMetrics:
    """B-cubed precision, recall and F1 of a clustering."""

    precision: float
    recall: float

    @property
    def f1(self) -> float:
        """Harmonic mean of B-cubed precision and recall."""
        return _f1(self.precision, self.recall)


def evaluate_clusters(
    predicted: Mapping[Hashable, Hashable] | Sequence[Hashable],
    truth: Mapping[Hashable, Hashable] | Sequence[Hashable],
) -> ClusterMetrics:
    """B-cubed metrics of a predicted clustering against the true one.

    Both are id -> cluster mappings (or label sequences in the same record order); records
    missing from the prediction count as singletons.

    Truth {a,b,c}{d}; predicted {a,b}{c,d}: a and b are each 2/2 precise and 2/3 complete,
    c is 1/2 precise and 1/3 complete, d 1/2 precise and 1/1 complete.

    >>> m = evaluate_clusters({"a": 1, "b": 1, "c": 2, "d": 2}, {"a": 0, "b": 0, "c": 0, "d": 9})
    >>> round(m.precision, 4), round(m.recall, 4)
    (0.75, 0.6667)
    """
    if isinstance(truth, Mapping):
        keys = [str(k) for k in truth]
        true_labels = list(truth.values())
        if isinstance(predicted, Mapping):
            pred_map = {str(k): v for k, v in predicted.items()}
            pred_labels: list[object] = [pred_map.get(k, ("__single__", k)) for k in keys]
        else:
            pred_labels = list(predicted)
    else:
        true_labels = list(truth)
        pred_labels = (
            list(predicted.values()) if isinstance(predicted, Mapping) else list(predicted)
        )
    frame = pd.DataFrame(
        {
            "p": pd.factorize(pd.Series(pred_labels, dtype=object))[0],
            "t": pd.factorize(pd.Series(true_labels, dtype=object))[0],
        }
    )
    n = len(frame)
    if not n:
        return ClusterMetrics(1.0, 1.0)
    joint = frame.groupby(["p", "t"]).size().rename("n").reset_index()
    size_p = frame.groupby("p").size()
    size_t = frame.groupby("t").size()
    nn = joint["n"].to_numpy(dtype=np.float64)
    precision = float((nn * nn / size_p.loc[joint["p"]].to_numpy()).sum() / n)
    recall = float((nn * nn / size_t.loc[joint["t"]].to_numpy()).sum() / n)
    return ClusterMetrics(precision, recall)


@dataclass(frozen=True, slots=True)
class BlockingMetrics:
    """How much blocking kept (pair completeness) and how much it saved (reduction ratio)."""

    candidate_pairs: int
    total_pairs: int
    true_pairs_found: int
    true_pairs: int

    @property
    def pair_completeness(self) -> float:
        """Share of true pairs among the candidates."""
        return self.true_pairs_found / self.true_pairs if self.true_pairs else 1.0

    @property
    def reduction_ratio(self) -> float:
        """Share of all possible pairs not compared."""
        return 1.0 - self.candidate_pairs / self.total_pairs if self.total_pairs else 1.0


def blocking_metrics(
    candidates: Iterable[tuple[Hashable, Hashable]],
    truth: Iterable[tuple[Hashable, Hashable]],
    total_pairs: int,
) -> BlockingMetrics:
    """Pair completeness and reduction ratio of a candidate set.

    Four records (6 possible pairs), 2 candidates, 2 true pairs of which 1 is a candidate:

    >>> m = blocking_metrics([("a", "b"), ("c", "d")], [("a", "b"), ("a", "c")], 6)
    >>> m.pair_completeness, round(m.reduction_ratio, 3)
    (0.5, 0.667)
    """
    c, t = _normalise_pairs(candidates), _normalise_pairs(truth)
    return BlockingMetrics(len(c), total_pairs, len(c & t), len(t))
