"""Deterministic must-link / cannot-link rules, evaluated vectorised over record pairs.

Rules sit next to the probabilities: a must-link rule (same valid tax ID and country, same
valid GTIN) raises a pair's probability to 1, a cannot-link rule (two different valid tax IDs
of one scheme, records of different roles, two different sites) lowers it to 0, and cannot-link
wins when both fire. A review rule (company names that share nothing) caps the probability
just below the match threshold, so the pair is never linked automatically; a steward decides
(must-link and cannot-link rules win over it). The match weight itself is kept, so
explanations still show the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.comparisons import (
    Frame,
    multi_codes,
    multi_columns,
    multi_conflict,
    multi_overlap,
    multi_present,
    scalar_codes,
    similarity,
)
from matching.spec import Condition, MatchSpec

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def condition_holds(
    condition: Condition,
    left: Frame,
    right: Frame | None,
    li: IntArray,
    ri: IntArray,
    *,
    multi: bool,
) -> BoolArray:
    """Evaluate one condition for every pair.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"role": ["ship_to", "bill_to", None]})
    >>> cond = Condition(column="role", test="differ")
    >>> condition_holds(cond, frame, None, np.array([0, 0]), np.array([1, 2]),
    ...                 multi=False).tolist()
    [True, False]
    >>> same = Condition(column="role", test="not_equal")
    >>> condition_holds(same, frame, None, np.array([0, 0, 1]), np.array([1, 2, 1]),
    ...                 multi=False).tolist()
    [True, True, False]
    """
    n = len(li)
    if multi:
        mc = multi_codes(left, right, condition.column)
        a, b = mc.left[li], mc.right[ri]
        present = multi_present(a) & multi_present(b)
        if condition.test == "equal":
            return present & multi_overlap(a, b)
        if condition.test == "not_equal":
            return ~(present & multi_overlap(a, b))
        if condition.test == "differ":
            return present & multi_conflict(a, b, mc.left_ns[li], mc.right_ns[ri])
        if condition.test == "missing_or_equal":
            return ~present | multi_overlap(a, b)
        raise ValueError(
            f"test {condition.test} does not apply to multi-valued column {condition.column}"
        )
    codes = scalar_codes(left, right, condition.column)
    a, b = codes.left[li], codes.right[ri]
    present = (a >= 0) & (b >= 0)
    if condition.test == "equal":
        return np.asarray(present & (a == b), dtype=bool)
    if condition.test == "not_equal":
        return np.asarray(~(present & (a == b)), dtype=bool)
    if condition.test == "differ":
        return np.asarray(present & (a != b), dtype=bool)
    if condition.test == "missing_or_equal":
        return np.asarray(~present | (a == b), dtype=bool)
    if condition.test == "both_in":
        wanted = set(condition.values)
        allowed = np.asarray([u in wanted for u in codes.uniques] + [False], dtype=bool)
        # Code -1 (missing) indexes the trailing False.
        return np.asarray(allowed[a] & allowed[b], dtype=bool)
    if condition.test == "similarity_below":
        if condition.scorer is None or condition.threshold is None:
            raise ValueError("similarity_below needs a scorer and a threshold")
        out = np.zeros(n, dtype=bool)
        idx = np.flatnonzero(present & (a != b))
        if len(idx):
            sa = [str(v) for v in codes.uniques[a[idx]]]
            sb = [str(v) for v in codes.uniques[b[idx]]]
            out[idx] = similarity(condition.scorer, sa, sb) < condition.threshold
        return out
    raise ValueError(f"unknown test {condition.test!r}")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """Which rules fired for each pair (pairs x rules), and the resulting overrides.

    ``review_only``: a review rule fired and neither a must-link nor a cannot-link rule did.
    """

    fired: npt.NDArray[np.bool_]
    rule_names: tuple[str, ...]
    must_link: BoolArray
    cannot_link: BoolArray
    review_only: BoolArray


def rule_effects(spec: MatchSpec) -> npt.NDArray[np.object_]:
    """Each rule's effect, in the spec's order (what `rule_outcome` reads)."""
    return np.asarray([r.effect for r in spec.rules], dtype=object)


def rule_outcome(
    spec: MatchSpec,
    fired: npt.NDArray[np.bool_],
    effects: npt.NDArray[np.object_] | None = None,
) -> RuleOutcome:
    """The overrides of the rules that fired (pairs x rules): cannot-link wins, then must-link.

    ``effects``: `rule_effects` of the spec, if the caller keeps them (one request at a time).

    >>> from matching.spec import default_customer_spec
    >>> spec = default_customer_spec()
    >>> names = [r.name for r in spec.rules]
    >>> fired = np.zeros((3, len(names)), dtype=bool)
    >>> fired[0, names.index("same_tax_id")] = True
    >>> fired[1, names.index("same_tax_id")] = fired[1, names.index("different_role")] = True
    >>> fired[2, names.index("names_share_nothing")] = True
    >>> out = rule_outcome(spec, fired)
    >>> out.must_link.tolist(), out.cannot_link.tolist(), out.review_only.tolist()
    ([True, False, False], [False, True, False], [False, False, True])
    """
    if effects is None:
        effects = rule_effects(spec)
    must = np.asarray(fired[:, effects == "must_link"].any(axis=1), dtype=bool)
    cannot = np.asarray(fired[:, effects == "cannot_link"].any(axis=1), dtype=bool)
    review = np.asarray(fired[:, effects == "review"].any(axis=1), dtype=bool)
    return RuleOutcome(
        fired,
        tuple(r.name for r in spec.rules),
        must & ~cannot,
        cannot,
        review & ~must & ~cannot,
    )


def evaluate_rules(
    spec: MatchSpec,
    left: Frame,
    right: Frame | None,
    li: IntArray,
    ri: IntArray,
) -> RuleOutcome:
    """Evaluate every rule of the spec for every pair.

    >>> from matching.spec import default_product_spec
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"gtin": ["00000000000017", "00000000000024", "00000000000017"]})
    >>> out = evaluate_rules(default_product_spec(), frame, None, np.array([0, 0]),
    ...                      np.array([1, 2]))
    >>> out.must_link.tolist(), out.cannot_link.tolist()
    ([False, True], [True, False])
    """
    multi = multi_columns(spec)
    n = len(li)
    fired = np.zeros((n, len(spec.rules)), dtype=bool)
    # Rules share conditions (both records are sites): each is evaluated once.
    known: dict[Condition, BoolArray] = {}
    for r, rule in enumerate(spec.rules):
        holds = np.ones(n, dtype=bool)
        for cond in rule.all_of:
            if not holds.any():
                break
            if cond not in known:
                known[cond] = condition_holds(cond, left, right, li, ri, multi=cond.column in multi)
            holds &= known[cond]
        fired[:, r] = holds
    return rule_outcome(spec, fired)
