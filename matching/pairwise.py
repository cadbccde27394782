"""Comparisons and rules one pair at a time, for the few pairs of a single record.

One record scored against tens of candidates (the single-record path of the API) would spend
most of its time in the set-up of the vectorised path: codes, masks and a rapidfuzz batch per
comparison, for a handful of pairs. Here each pair walks its comparisons' levels and its
rules one value at a time, calling the same rapidfuzz scorers with the same cutoffs.

The results must be those of :func:`matching.comparisons.compare_all` and
:func:`matching.rules.evaluate_rules`, bit for bit; the scoring tests hold the two paths to
that on hand-made and on drawn records, so a change to what a level or a test means belongs
in both places. What the vectorised path gets from its codes, this path gets from the values:

- two values are the same value when Python's ``==`` says so (the codes come from a dict);
- ``None`` and float NaN are missing in single-valued columns;
- a multi-valued cell holds the first :data:`~matching.comparisons.MAX_VALUES` items of a
  tuple or list, or the one scalar it holds, or nothing for ``None``;
- fuzzy, distance and IDF levels score only pairs whose values differ; equal values hold at
  the first of them (a perfect score: similarity and cosine 1, distance 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.comparisons import (
    MAX_VALUES,
    Columns,
    IdfTable,
    date_days,
    digits_of,
    distance_scorer,
    idf_vector,
    is_missing,
    multi_columns,
    similarity_scorer,
    token_cosine,
    transposed_date,
)
from matching.rules import RuleOutcome, rule_effects, rule_outcome
from matching.spec import Comparison, Condition, Level, MatchSpec

IntArray = npt.NDArray[np.int64]
Record = Mapping[str, Any]
Items = tuple[Any, ...]
Score = Callable[[Any, Any], float]

# How a level between null and else is tested.
_EQUAL = 0  # exact, overlap: the same value (a value in common)
_AT_LEAST = 1  # fuzzy, idf: a score of at least the threshold (less 1e-9)
_AT_MOST = 2  # distance: a score of at most the threshold
_NUMERIC = 3  # numeric: a relative difference of at most the threshold
_OTHER = 4  # date, swap
_SCORED = frozenset({"fuzzy", "distance", "idf"})


@dataclass(frozen=True, slots=True)
class _ComparisonPlan:
    """One comparison made ready for pairs."""

    comparison: Comparison
    column: str
    multi: bool
    # Per level between null and else: its index, how it is tested, the slot of its score
    # (levels alike share one), the bound the score is held to, same_digits, the level.
    tests: tuple[tuple[int, int, int, float, bool, Level], ...]
    # Per score slot, the function scoring a pair of values; None for IDF (it needs a table).
    scorers: tuple[Score | None, ...]
    else_level: int
    # The one level between null and else when it is exact or overlap (else 0): a test of
    # equality decides.
    equal_level: int


@dataclass(frozen=True, slots=True)
class _Plan:
    """A spec made ready for pairs: its comparisons, and its rules' distinct conditions."""

    spec: MatchSpec
    comparisons: tuple[_ComparisonPlan, ...]
    # The distinct conditions of the rules, whether each reads a multi-valued column, and the
    # values a ``both_in`` test wants.
    conditions: tuple[tuple[Condition, bool, frozenset[str]], ...]
    rules: tuple[tuple[int, ...], ...]
    effects: npt.NDArray[np.object_]


def _scorer(comparison: Comparison, level: Level, multi: bool) -> Score | None:
    """The score of a level's kind and scorer, with the cutoff rapidfuzz is given there."""
    if level.kind == "idf":
        return None
    assert level.scorer is not None
    if multi:  # the best over the items' pairs: no cutoff
        if level.kind == "distance":
            return distance_scorer(level.scorer)
        return similarity_scorer(level.scorer)
    alike = [
        lv.threshold
        for lv in comparison.levels
        if (lv.kind, lv.scorer) == (level.kind, level.scorer) and lv.threshold is not None
    ]
    if level.kind == "distance":
        return distance_scorer(level.scorer, int(max(alike)))
    return similarity_scorer(level.scorer, min(alike))


def _plan_comparison(comparison: Comparison, multi: bool) -> _ComparisonPlan:
    slots: dict[tuple[str, str | None], int] = {}
    scorers: list[Score | None] = []
    tests: list[tuple[int, int, int, float, bool, Level]] = []
    for k, level in enumerate(comparison.levels[1:-1], start=1):
        kind = level.kind
        if multi and kind not in {"overlap", "exact", "fuzzy", "distance"}:
            raise ValueError(
                f"level kind {kind} does not apply to multi-valued column {comparison.column}"
            )
        if kind in {"overlap", "exact"}:
            tests.append((k, _EQUAL, -1, 0.0, False, level))
            continue
        if kind == "numeric":
            assert level.threshold is not None
            tests.append((k, _NUMERIC, -1, level.threshold, False, level))
            continue
        if kind not in _SCORED:
            tests.append((k, _OTHER, -1, 0.0, False, level))
            continue
        key = (kind, level.scorer)
        if key not in slots:
            slots[key] = len(scorers)
            scorers.append(_scorer(comparison, level, multi))
        assert level.threshold is not None
        if kind == "distance":
            tests.append((k, _AT_MOST, slots[key], level.threshold, False, level))
        else:
            bound = level.threshold - 1e-9
            tests.append((k, _AT_LEAST, slots[key], bound, level.same_digits, level))
    equal_level = tests[0][0] if len(tests) == 1 and tests[0][1] == _EQUAL else 0
    return _ComparisonPlan(
        comparison,
        comparison.column,
        multi,
        tuple(tests),
        tuple(scorers),
        len(comparison.levels) - 1,
        equal_level,
    )


def _make_plan(spec: MatchSpec) -> _Plan:
    multi = multi_columns(spec)
    conditions: dict[Condition, int] = {}
    rules = tuple(
        tuple(conditions.setdefault(c, len(conditions)) for c in rule.all_of) for rule in spec.rules
    )
    return _Plan(
        spec,
        tuple(_plan_comparison(c, c.column in multi) for c in spec.comparisons),
        tuple((c, c.column in multi, frozenset(c.values)) for c in conditions),
        rules,
        rule_effects(spec),
    )


# Plans by the identity of their spec: hashing a spec costs more than scoring a few pairs.
# Each plan holds its spec, so an identity stays taken while its plan is kept.
_PLANS: dict[int, _Plan] = {}
_PLANS_KEPT = 16


def _plan(spec: MatchSpec) -> _Plan:
    plan = _PLANS.get(id(spec))
    if plan is None or plan.spec is not spec:
        if len(_PLANS) >= _PLANS_KEPT:
            _PLANS.clear()
        plan = _PLANS[id(spec)] = _make_plan(spec)
    return plan


# --------------------------------------------------------------------------- values


def _items(value: Any) -> Items:
    """The items of a multi-valued cell (see the module docstring)."""
    if isinstance(value, tuple | list):
        return tuple(value[:MAX_VALUES])
    return () if value is None else (value,)


def _share(a: Items, b: Items) -> bool:
    return not set(a).isdisjoint(b)


def _least_distance(scorer: Score, a: Items, b: Items) -> float:
    """The smallest edit distance over the pairs of items."""
    return min(scorer(str(x), str(y)) for x in a for y in b)


def _nulls(values: list[tuple[Any, Any]]) -> list[bool]:
    """Per pair of values: either is missing."""
    # Strings, the values nearly all are, need no test for NaN.
    return [
        x is None
        or y is None
        or (x.__class__ is not str and is_missing(x))
        or (y.__class__ is not str and is_missing(y))
        for x, y in values
    ]


class _Pairs:
    """The records of each pair, and their values column by column."""

    def __init__(self, left: Columns, right: Columns | None, li: IntArray, ri: IntArray) -> None:
        self._frames = (left, right)
        self._left = left.records
        self._right = self._left if right is None else right.records
        self._li, self._ri = li.tolist(), ri.tolist()
        self.records = [
            (self._left[i], self._right[j]) for i, j in zip(self._li, self._ri, strict=True)
        ]
        self._values: dict[str, list[tuple[Any, Any]]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def values(self, column: str) -> list[tuple[Any, Any]]:
        """The values of a single-valued column on both sides of each pair."""
        found = self._values.get(column)
        if found is None:
            found = self._values[column] = [
                (left.get(column), right.get(column)) for left, right in self.records
            ]
        return found

    def items(self, column: str) -> list[tuple[Items, Items]]:
        """The items of a multi-valued column on both sides of each pair.

        Each record's items are found once, and kept with the column arrays (as the
        vectorised path keeps its codes there): the rules read them again.
        """
        left, right = self._frames
        key = (id(right), column, None, "items")
        if key not in left.memo:
            left_items = [_items(record.get(column)) for record in self._left]
            right_items = (
                left_items if right is None else [_items(r.get(column)) for r in self._right]
            )
            left.memo[key] = (left_items, right_items)
        left_items, right_items = left.memo[key]
        return [(left_items[i], right_items[j]) for i, j in zip(self._li, self._ri, strict=True)]

    def nulls(self, nulls: list[bool], unless: str | None) -> list[bool]:
        """The pairs with a value missing, and those whose records both have ``unless``.

        That is a comparison's ``unless_compared``, the column that decides there.
        """
        if unless is None:
            return nulls
        return [n or not u for n, u in zip(nulls, _nulls(self.values(unless)), strict=True)]


# --------------------------------------------------------------------------- levels


class _PairLevels:
    """Levels of pairs, comparison by comparison.

    Values in several pairs (the single record's, above all) are turned into IDF vectors,
    digits and dates once.
    """

    def __init__(self, pairs: _Pairs, idf_tables: Mapping[str, IdfTable]) -> None:
        self._pairs = pairs
        self._idf_tables = idf_tables
        self._digits: dict[Any, str] = {}
        self._days: dict[Any, float] = {}

    def levels(self, plan: _ComparisonPlan) -> list[int]:
        """The level index of each pair for one comparison: the first level that holds."""
        if plan.multi:
            return self._multi_levels(plan)
        pairs = self._pairs
        values = pairs.values(plan.column)
        nulls = pairs.nulls(_nulls(values), plan.comparison.unless_compared)
        equal, other = plan.equal_level, plan.else_level
        if equal:
            return [
                0 if n else equal if x == y else other
                for n, (x, y) in zip(nulls, values, strict=True)
            ]
        scorers = self._scorers(plan)
        out: list[int] = []
        for null, (x, y), records in zip(nulls, values, pairs.records, strict=True):
            if null:
                out.append(0)
                continue
            same = bool(x == y)
            scores: list[float | None] = [None] * len(scorers)
            digits_differ: bool | None = None
            found = other
            for k, test, slot, bound, same_digits, level in plan.tests:
                if test == _EQUAL:
                    hit = same
                elif test == _NUMERIC:
                    fx, fy = float(x), float(y)
                    hit = abs(fx - fy) / max(abs(fx), abs(fy), 1e-12) <= bound
                elif test == _OTHER:
                    hit = self._holds(level, x, y, same, *records)
                elif same:  # equal values score perfectly: the first scored level holds
                    hit = True
                else:
                    if same_digits and digits_differ is None:
                        digits_differ = self._digits_of(x) != self._digits_of(y)
                    if same_digits and digits_differ:
                        hit = False  # whatever the score
                    else:
                        score = scores[slot]
                        if score is None:
                            score = scores[slot] = scorers[slot](x, y)
                        hit = score >= bound if test == _AT_LEAST else score <= bound
                if hit:
                    found = k
                    break
            out.append(found)
        return out

    def _multi_levels(self, plan: _ComparisonPlan) -> list[int]:
        pairs = self._pairs
        items = pairs.items(plan.column)
        nulls = pairs.nulls([not a or not b for a, b in items], plan.comparison.unless_compared)
        equal, other = plan.equal_level, plan.else_level
        if equal:
            return [
                0 if n else equal if _share(a, b) else other
                for n, (a, b) in zip(nulls, items, strict=True)
            ]
        scorers = self._scorers(plan)
        companions = {
            level.column: pairs.items(level.column) for *_, level in plan.tests if level.column
        }
        out: list[int] = []
        for p, (null, (a, b)) in enumerate(zip(nulls, items, strict=True)):
            if null:
                out.append(0)
                continue
            found = other
            for k, test, slot, bound, same_digits, level in plan.tests:
                if test == _EQUAL and level.column:
                    hit = _share(*companions[level.column][p])
                elif test == _EQUAL:
                    hit = _share(a, b)
                elif test == _AT_MOST:
                    hit = _least_distance(scorers[slot], a, b) <= bound
                else:  # fuzzy: the plan refuses every other kind
                    hit = self._best_similarity(scorers[slot], same_digits, a, b) >= bound
                if hit:
                    found = k
                    break
            out.append(found)
        return out

    def _scorers(self, plan: _ComparisonPlan) -> list[Score]:
        column = plan.column
        return [
            self._idf_scorer(self._idf_tables.get(column) or IdfTable(1, {}))
            if scorer is None
            else scorer
            for scorer in plan.scorers
        ]

    @staticmethod
    def _idf_scorer(table: IdfTable) -> Score:
        vectors: dict[Any, dict[str, float]] = {}

        def vector(value: Any) -> dict[str, float]:
            found = vectors.get(value)
            if found is None:
                found = vectors[value] = idf_vector(value, table)
            return found

        def score(x: Any, y: Any) -> float:
            return token_cosine(vector(x), vector(y))

        return score

    def _holds(self, level: Level, x: Any, y: Any, same: bool, left: Record, right: Record) -> bool:
        """Whether a date or swap level holds for a pair of present values."""
        if level.kind == "date" and level.transposed:
            return not same and transposed_date(x) == y
        if level.kind == "date":
            assert level.threshold is not None
            return bool(abs(self._day(x) - self._day(y)) <= level.threshold)
        if level.kind == "swap":
            assert level.other_column is not None
            x_other, y_other = left.get(level.other_column), right.get(level.other_column)
            return (
                not is_missing(x_other)
                and not is_missing(y_other)
                and bool(x == y_other)
                and bool(x_other == y)
            )
        return False

    def _best_similarity(self, scorer: Score, same_digits: bool, a: Items, b: Items) -> float:
        """The best score over the pairs of items (0 where ``same_digits`` fails)."""
        best = 0.0
        for x in a:
            for y in b:
                if not same_digits or self._digits_of(x) == self._digits_of(y):
                    best = max(best, scorer(str(x), str(y)))
        return best

    def _digits_of(self, value: Any) -> str:
        digits = self._digits.get(value)
        if digits is None:
            digits = self._digits[value] = digits_of(value)
        return digits

    def _day(self, value: Any) -> float:
        day = self._days.get(value)
        if day is None:
            one = np.empty(1, dtype=object)
            one[0] = value
            day = self._days[value] = float(date_days(one)[0])
        return day


# --------------------------------------------------------------------------- rules


def _namespaces(items: Items) -> set[str]:
    texts = [str(item) for item in items]
    return {t.split("=", 1)[0] if "=" in t else "" for t in texts}


def _conflict(a: Items, b: Items) -> bool:
    # No value in common (a shared value shares its namespace too), and a namespace on both
    # sides: there the two hold different values.
    return not _share(a, b) and not _namespaces(a).isdisjoint(_namespaces(b))


def _condition_holds(
    condition: Condition, multi: bool, wanted: frozenset[str], pairs: _Pairs
) -> list[bool]:
    """One condition for every pair, as :func:`~matching.rules.condition_holds` tests it."""
    test = condition.test
    if multi:
        items = pairs.items(condition.column)
        if test == "equal":
            return [bool(a) and bool(b) and _share(a, b) for a, b in items]
        if test == "not_equal":
            return [not (a and b and _share(a, b)) for a, b in items]
        if test == "differ":
            return [bool(a) and bool(b) and _conflict(a, b) for a, b in items]
        if test == "missing_or_equal":
            return [not a or not b or _share(a, b) for a, b in items]
        raise ValueError(f"test {test} does not apply to multi-valued column {condition.column}")
    values = pairs.values(condition.column)
    present = [(not null, x, y) for null, (x, y) in zip(_nulls(values), values, strict=True)]
    if test == "equal":
        return [p and bool(x == y) for p, x, y in present]
    if test == "not_equal":
        return [not (p and bool(x == y)) for p, x, y in present]
    if test == "differ":
        return [p and bool(x != y) for p, x, y in present]
    if test == "missing_or_equal":
        return [not p or bool(x == y) for p, x, y in present]
    if test == "both_in":
        return [p and x in wanted and y in wanted for p, x, y in present]
    if test == "similarity_below":
        if condition.scorer is None or condition.threshold is None:
            raise ValueError("similarity_below needs a scorer and a threshold")
        scorer, threshold = similarity_scorer(condition.scorer), condition.threshold
        return [p and bool(x != y) and scorer(str(x), str(y)) < threshold for p, x, y in present]
    raise ValueError(f"unknown test {test!r}")  # pragma: no cover


def _rules(plan: _Plan, pairs: _Pairs) -> RuleOutcome:
    # Rules share conditions (both records are sites): each is tested once, when first needed.
    known: dict[int, list[bool]] = {}
    fired: list[list[bool]] = []
    for conditions in plan.rules:
        holds = [True] * len(pairs)
        for c in conditions:
            if not any(holds):
                break
            if c not in known:
                known[c] = _condition_holds(*plan.conditions[c], pairs)
            holds = [h and v for h, v in zip(holds, known[c], strict=True)]
        fired.append(holds)
    by_rule = np.asarray(fired, dtype=bool).reshape(len(plan.rules), len(pairs))
    return rule_outcome(plan.spec, np.ascontiguousarray(by_rule.T), plan.effects)


# --------------------------------------------------------------------------- both


def compare_pairs(
    spec: MatchSpec,
    left: Columns,
    right: Columns | None,
    li: IntArray,
    ri: IntArray,
    *,
    idf_tables: Mapping[str, IdfTable] | None = None,
) -> tuple[npt.NDArray[np.int8], RuleOutcome]:
    """The level matrix (pairs x comparisons) and the rules' outcome, one pair at a time.

    They are what :func:`~matching.comparisons.compare_all` and
    :func:`~matching.rules.evaluate_rules` give the same pairs.

    >>> from matching.spec import default_product_spec
    >>> cols = Columns([{"gtin": "00000000000017", "brand": "sony"},
    ...                 {"gtin": "00000000000024", "brand": "sonny"},
    ...                 {"gtin": "00000000000017", "brand": "sony"}])
    >>> levels, rules = compare_pairs(default_product_spec(), cols, None, np.array([0, 0]),
    ...                               np.array([1, 2]))
    >>> levels[:, :3].tolist()  # gtin, part number, brand
    [[2, 0, 2], [1, 0, 1]]
    >>> rules.must_link.tolist(), rules.cannot_link.tolist()
    ([False, True], [True, False])
    """
    plan = _plan(spec)
    pairs = _Pairs(left, right, li, ri)
    levels = _PairLevels(pairs, idf_tables or {})
    by_comparison = [levels.levels(c) for c in plan.comparisons]
    matrix = np.asarray(by_comparison, dtype=np.int8).reshape(len(plan.comparisons), len(pairs))
    return np.ascontiguousarray(matrix.T), _rules(plan, pairs)
