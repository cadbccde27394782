"""Scoring (prediction): level matrix -> match weight -> probability, with rule overrides.

The match weight of a pair is ``log2(prior odds) + sum of level weights log2(m/u) + term
frequency adjustments``; the probability is ``2^w / (1 + 2^w)``. Must-link rules set the
probability to 1 and cannot-link rules to 0 (cannot-link wins), keeping the weight so the
explanation still shows the evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.blocking import BlockingResult
from matching.comparisons import (
    Columns,
    ComparisonOutcome,
    Frame,
    column_values,
    compare_all,
    edit_distance,
    idf_cosine,
    similarity,
)
from matching.explanations import ComparisonExplanation, DecisionKind, Explanation
from matching.model import TF_ADJUSTMENT_BOUNDS, MatchModel
from matching.pairwise import compare_pairs
from matching.rules import RuleOutcome, evaluate_rules
from matching.spec import Thresholds

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

DECISION_NAMES: tuple[DecisionKind, ...] = ("no_match", "review", "match")

# Up to this many pairs of column arrays (one record's candidates), pairs are compared one at
# a time (`matching.pairwise`): there the vectorised path's set-up costs more than the
# comparisons. One customer record against 8 candidates took 0.2 ms against 0.7, against 30
# 0.4 ms against 0.9, against 128 1.4 ms against 1.7; the two break even at about 300.
_PER_PAIR_UP_TO = 128


def probability_from_weight(weight: FloatArray | float) -> FloatArray:
    """Turn match weights (log2 Bayes factor incl. prior) into probabilities.

    >>> probability_from_weight(np.array([0.0, 10.0, -10.0])).round(4).tolist()
    [0.5, 0.999, 0.001]
    """
    w = np.clip(np.asarray(weight, dtype=np.float64), -1000, 1000)
    return np.asarray(1.0 / (1.0 + np.exp2(-w)), dtype=np.float64)


def weight_from_probability(probability: float) -> float:
    """The match weight at which a pair reaches ``probability``.

    >>> round(weight_from_probability(0.95), 2)
    4.25
    """
    return math.log2(probability / (1.0 - probability))


def _tf_adjustment(u_exact: float | FloatArray, tf_pair: FloatArray) -> FloatArray:
    # A value shared by many records says less than the average agreement, a rare one
    # more: u for "agree on v" is v's frequency instead of the average u.
    adj = np.log2(u_exact / np.maximum(tf_pair, 1e-12))
    return np.asarray(np.clip(adj, *TF_ADJUSTMENT_BOUNDS), dtype=np.float64)


def _tf_adjustments(
    model: MatchModel, levels: npt.NDArray[np.int8], outcomes: Sequence[ComparisonOutcome]
) -> npt.NDArray[np.float32]:
    out = np.zeros(levels.shape, dtype=np.float32)
    for term in model.tf_terms():
        c = term.comparison
        outcome = outcomes[c]
        at_exact = np.flatnonzero(levels[:, c] == term.exact_level)
        if outcome.left_codes is None or not len(at_exact):
            continue
        assert outcome.uniques is not None
        freqs, default = term.table.frequencies, term.table.default
        codes = outcome.left_codes[at_exact]
        if len(codes) < len(outcome.uniques):
            # A few pairs (one record's candidates): look up only the values they agree on.
            tf_pair = np.asarray(
                [freqs.get(str(v), default) for v in outcome.uniques[codes].tolist()],
                dtype=np.float64,
            )
        else:
            tf_u = np.asarray(
                [freqs.get(str(v), default) for v in outcome.uniques], dtype=np.float64
            )
            tf_pair = tf_u[codes]
        out[at_exact, c] = _tf_adjustment(term.u_exact, tf_pair)
    return out


def _pair_tf_adjustments(
    model: MatchModel, levels: npt.NDArray[np.int8], left: Columns, li: IntArray
) -> npt.NDArray[np.float32]:
    """The same adjustments, read from the left records' values, in one array operation.

    Element by element the operation is the one above: each pair's ``u`` and frequency meet
    in the same ``log2`` and ``clip``.
    """
    out = np.zeros(levels.shape, dtype=np.float32)
    records = left.records
    lefts = li.tolist()
    pairs: list[int] = []
    comparisons: list[int] = []
    u_exact: list[float] = []
    tf_pair: list[float] = []
    by_comparison = levels.T.tolist()
    for term in model.tf_terms():
        freqs, default = term.table.frequencies, term.table.default
        for p, k in enumerate(by_comparison[term.comparison]):
            if k == term.exact_level:
                pairs.append(p)
                comparisons.append(term.comparison)
                u_exact.append(term.u_exact)
                tf_pair.append(freqs.get(str(records[lefts[p]].get(term.column)), default))
    if pairs:
        out[pairs, comparisons] = _tf_adjustment(
            np.asarray(u_exact, dtype=np.float64), np.asarray(tf_pair, dtype=np.float64)
        )
    return out


@dataclass(slots=True)
class ScoredPairs:
    """Scored candidate pairs; explanations are built on demand with :meth:`explain`."""

    model: MatchModel
    left_frame: Frame
    right_frame: Frame | None
    left: IntArray
    right: IntArray
    levels: npt.NDArray[np.int8]
    tf_adjustments: npt.NDArray[np.float32]
    rules: RuleOutcome
    match_weight: FloatArray
    probability: FloatArray

    def __len__(self) -> int:
        return len(self.left)

    @property
    def left_ids(self) -> npt.NDArray[np.object_]:
        """Record ids of the left side of each pair."""
        return column_values(self.left_frame, "id")[self.left]

    @property
    def right_ids(self) -> npt.NDArray[np.object_]:
        """Record ids of the right side of each pair."""
        frame = self.left_frame if self.right_frame is None else self.right_frame
        return column_values(frame, "id")[self.right]

    def decisions(self, thresholds: Thresholds | None = None) -> npt.NDArray[np.int8]:
        """Per pair 2 = match, 1 = review, 0 = no match (see :data:`DECISION_NAMES`)."""
        th = thresholds or self.model.spec.thresholds
        out = np.zeros(len(self), dtype=np.int8)
        out[self.probability >= th.review] = 1
        out[self.probability >= th.match] = 2
        return out

    def to_frame(self) -> pd.DataFrame:
        """Pairs as a frame: ids, weight, probability, decision, rule flags."""
        return pd.DataFrame(
            {
                "left_id": self.left_ids,
                "right_id": self.right_ids,
                "match_weight": self.match_weight,
                "probability": self.probability,
                "decision": np.asarray(DECISION_NAMES, dtype=object)[self.decisions()],
                "must_link": self.rules.must_link,
                "cannot_link": self.rules.cannot_link,
                "review_only": self.rules.review_only,
            }
        )

    def explain(self, i: int) -> Explanation:
        """Build the explanation of pair ``i``."""
        model = self.model
        spec = model.spec
        right_frame = self.left_frame if self.right_frame is None else self.right_frame
        li, ri = int(self.left[i]), int(self.right[i])
        tables = model.weight_tables()
        items = []
        for c, comp in enumerate(spec.comparisons):
            k = int(self.levels[i, c])
            lv = _clean(_cell(self.left_frame, comp.column, li))
            rv = _clean(_cell(right_frame, comp.column, ri))
            sim, scorer = _level_similarity(model, c, k, lv, rv)
            items.append(
                ComparisonExplanation(
                    comparison=comp.name,
                    level=comp.levels[k].label,
                    level_index=k,
                    weight=float(tables[c][k]),
                    tf_adjustment=float(self.tf_adjustments[i, c]),
                    left_value=lv,
                    right_value=rv,
                    similarity=sim,
                    scorer=scorer,
                )
            )
        fired = tuple(
            n for n, f in zip(self.rules.rule_names, self.rules.fired[i], strict=True) if f
        )
        p = float(self.probability[i])
        th = spec.thresholds
        decision: DecisionKind = (
            "match" if p >= th.match else "review" if p >= th.review else "no_match"
        )
        return Explanation(
            left_id=str(_cell(self.left_frame, "id", li)),
            right_id=str(_cell(right_frame, "id", ri)),
            prior_weight=model.prior_weight,
            comparisons=tuple(items),
            rules_fired=fired,
            must_link=bool(self.rules.must_link[i]),
            cannot_link=bool(self.rules.cannot_link[i]),
            match_weight=float(self.match_weight[i]),
            probability=p,
            decision=decision,
        )


def _cell(frame: Frame, column: str, row: int) -> Any:
    # One value, without converting the whole column: explanations are built one pair at a
    # time, and a frame can hold a million records.
    if column not in frame.columns:
        return None
    if isinstance(frame, pd.DataFrame):
        return frame[column].iat[row]  # noqa: PD009 - one cell, fast
    return column_values(frame, column)[row]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # noqa: PLR0124 - NaN
        return None
    return value


def _level_similarity(
    model: MatchModel, c: int, k: int, lv: Any, rv: Any
) -> tuple[float | None, str | None]:
    """The similarity behind a fuzzy level (or the first fuzzy level, if the pair fell below)."""
    comp = model.spec.comparisons[c]
    if lv is None or rv is None or isinstance(lv, tuple) or isinstance(rv, tuple):
        return None, None
    level = comp.levels[k]
    if level.kind not in {"fuzzy", "distance", "idf"}:
        if level.kind != "else":
            return None, None
        level = next((x for x in comp.levels if x.kind in {"fuzzy", "idf", "distance"}), level)
        if level.kind == "else":
            return None, None
    if level.kind == "idf":
        table = model.idf_tables().get(comp.column)
        if table is None:
            return None, None
        uniq = np.asarray([str(lv), str(rv)], dtype=object)
        val = idf_cosine(uniq, np.array([0]), np.array([1]), table)[0]
        return round(float(val), 3), "idf_cosine"
    assert level.scorer is not None
    if level.kind == "distance":
        distance = float(edit_distance(level.scorer, [str(lv)], [str(rv)])[0])
        return distance, f"{level.scorer} distance"
    return round(float(similarity(level.scorer, [str(lv)], [str(rv)])[0]), 3), level.scorer


def score(
    model: MatchModel,
    left_std: Frame,
    right_std: Frame | None,
    pairs: BlockingResult | tuple[IntArray, IntArray],
) -> ScoredPairs:
    """Score candidate pairs (row positions) of a frame, or between two frames.

    A few pairs of column arrays (one record's candidates) are compared one pair at a time
    (:mod:`matching.pairwise`), to the same results.

    >>> from matching.spec import person_spec
    >>> from matching.standardisation import standardise
    >>> from matching.training import train
    >>> spec = person_spec(fields=("given_name", "surname"))
    >>> rows = [{"id": str(i), "given_name": g, "surname": s} for i, (g, s) in enumerate(
    ...     [("ann", "lee"), ("ann", "lee"), ("bob", "ray"), ("bob", "ray"), ("cy", "kim")])]
    >>> frame = standardise(rows, spec)
    >>> scored = score(train(frame, spec), frame, None, (np.array([0, 0]), np.array([1, 2])))
    >>> bool(scored.match_weight[0] > scored.match_weight[1])
    True
    """
    if isinstance(pairs, BlockingResult):
        li, ri = pairs.left, pairs.right
    else:
        li, ri = np.asarray(pairs[0], dtype=np.int64), np.asarray(pairs[1], dtype=np.int64)
    if (
        len(li) <= _PER_PAIR_UP_TO
        and isinstance(left_std, Columns)
        and (right_std is None or isinstance(right_std, Columns))
    ):
        levels, rules = compare_pairs(
            model.spec, left_std, right_std, li, ri, idf_tables=model.idf_tables()
        )
        tf = _pair_tf_adjustments(model, levels, left_std, li)
    else:
        levels, outcomes = compare_all(
            model.spec, left_std, right_std, li, ri, idf_tables=model.idf_tables()
        )
        tf = _tf_adjustments(model, levels, outcomes)
        rules = evaluate_rules(model.spec, left_std, right_std, li, ri)
    weight = np.full(len(li), model.prior_weight, dtype=np.float64)
    for c, table in enumerate(model.weight_tables()):
        weight += table[levels[:, c]]
    weight += tf.sum(axis=1, dtype=np.float64)
    probability = probability_from_weight(weight)
    probability[rules.must_link] = 1.0
    probability[rules.cannot_link] = 0.0
    if rules.review_only.any():
        below = np.nextafter(model.spec.thresholds.match, 0.0)
        capped = rules.review_only
        probability[capped] = np.minimum(probability[capped], below)
    return ScoredPairs(model, left_std, right_std, li, ri, levels, tf, rules, weight, probability)


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """One candidate of the single-record path, with its decision.

    The explanation is built on first access (:attr:`explanation`), so scoring stays fast.
    """

    candidate_id: str
    match_weight: float
    probability: float
    decision: DecisionKind
    must_link: bool
    cannot_link: bool
    _scored: ScoredPairs
    _index: int

    @property
    def explanation(self) -> Explanation:
        """Why this candidate scored what it scored."""
        return self._scored.explain(self._index)


def score_one(
    model: MatchModel,
    std_record: Mapping[str, Any],
    candidate_std_records: Sequence[Mapping[str, Any]],
) -> list[ScoredCandidate]:
    """Score one standardised record against its candidates, best first.

    >>> from matching.spec import person_spec
    >>> from matching.standardisation import standardise, standardise_record
    >>> from matching.training import train
    >>> spec = person_spec(fields=("given_name", "surname"))
    >>> rows = [{"id": str(i), "given_name": g, "surname": s} for i, (g, s) in enumerate(
    ...     [("ann", "lee"), ("ann", "lee"), ("bob", "ray"), ("bob", "ray"), ("cy", "kim")])]
    >>> model = train(standardise(rows, spec), spec)
    >>> new = standardise_record({"id": "n", "given_name": "Ann", "surname": "Lee"}, spec)
    >>> best = score_one(model, new, [standardise_record(r, spec) for r in rows])[0]
    >>> best.candidate_id in {"0", "1"}
    True
    """
    if not candidate_std_records:
        return []
    left = Columns([std_record])
    right = Columns(candidate_std_records)
    n = len(right)
    scored = score(model, left, right, (np.zeros(n, dtype=np.int64), np.arange(n)))
    order = np.argsort(-scored.match_weight, kind="stable")
    order = order[np.argsort(-scored.probability[order], kind="stable")]
    ids = scored.right_ids
    decisions = scored.decisions()
    return [
        ScoredCandidate(
            candidate_id=str(ids[i]),
            match_weight=float(scored.match_weight[i]),
            probability=float(scored.probability[i]),
            decision=DECISION_NAMES[int(decisions[i])],
            must_link=bool(scored.rules.must_link[i]),
            cannot_link=bool(scored.rules.cannot_link[i]),
            _scored=scored,
            _index=int(i),
        )
        for i in order.tolist()
    ]
