"""Vectorised field comparisons: record pairs in, a matrix of comparison levels out.

Pairs are given as two integer arrays of row positions (left, right). Values are factorised
into integer codes once per column, so exact tests are integer comparisons, and string
similarities are computed once per *distinct* value pair with ``rapidfuzz.process.cpdist``
(``workers=-1`` for large batches); no Python loop runs per pair.

Multi-valued columns (tuples of phones, e-mails, ``namespace=value`` tax IDs, part numbers)
become small code matrices (one row per record, at most :data:`MAX_VALUES` values), so
"share a value" is a handful of vectorised equality tests.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from rapidfuzz import distance, fuzz, process
from scipy import sparse

from matching.spec import Comparison, Level, MatchSpec, Scorer

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MAX_VALUES = 4
_PARALLEL_FROM = 2000

_SIMILARITY: dict[str, tuple[Callable[..., float], float]] = {
    "jaro_winkler": (distance.JaroWinkler.normalized_similarity, 1.0),
    "jaro": (distance.Jaro.normalized_similarity, 1.0),
    "levenshtein": (distance.Levenshtein.normalized_similarity, 1.0),
    "damerau_levenshtein": (distance.DamerauLevenshtein.normalized_similarity, 1.0),
    "indel": (distance.Indel.normalized_similarity, 1.0),
    "token_set_ratio": (fuzz.token_set_ratio, 100.0),
    "token_sort_ratio": (fuzz.token_sort_ratio, 100.0),
    "partial_ratio": (fuzz.partial_ratio, 100.0),
    "ratio": (fuzz.ratio, 100.0),
}
_DISTANCE: dict[str, Callable[..., int]] = {
    "levenshtein": distance.Levenshtein.distance,
    "damerau_levenshtein": distance.DamerauLevenshtein.distance,
}


def similarity(
    scorer: Scorer, a: list[str], b: list[str], cutoff: float | None = None
) -> FloatArray:
    """Return the element-wise similarity (0..1) of two equally long string lists.

    >>> similarity("jaro_winkler", ["martha", "abc"], ["marhta", "xyz"]).round(3).tolist()
    [0.961, 0.0]
    """
    fn, scale = _SIMILARITY[scorer]
    if not a:
        return np.zeros(0)
    workers = -1 if len(a) >= _PARALLEL_FROM else 1
    # Below the cutoff the exact value does not matter: rapidfuzz then returns 0 early.
    out = process.cpdist(
        a,
        b,
        scorer=fn,
        workers=workers,
        dtype=np.float64,
        score_cutoff=None if cutoff is None else cutoff * scale,
    )
    return np.asarray(out, dtype=np.float64) / scale


def similarity_scorer(scorer: Scorer, cutoff: float | None = None) -> Callable[[str, str], float]:
    """A function giving one pair of strings the similarity (0..1) :func:`similarity` gives it.

    >>> round(similarity_scorer("jaro_winkler")("martha", "marhta"), 3)
    0.961
    >>> similarity_scorer("ratio", cutoff=0.5)("abc", "xyz")
    0.0
    """
    fn, scale = _SIMILARITY[scorer]
    score_cutoff = None if cutoff is None else cutoff * scale
    if scale == 1.0:  # dividing by one would change nothing
        return functools.partial(fn, score_cutoff=score_cutoff)

    def score(a: str, b: str) -> float:
        return fn(a, b, score_cutoff=score_cutoff) / scale

    return score


def edit_distance(
    scorer: Scorer, a: list[str], b: list[str], cutoff: int | None = None
) -> FloatArray:
    """Return the element-wise edit distance of two equally long string lists.

    >>> edit_distance("damerau_levenshtein", ["1804974", "ab"], ["1809474", "ba"]).tolist()
    [1.0, 1.0]
    """
    if scorer not in _DISTANCE:
        raise ValueError(f"{scorer} is not an edit distance")
    if not a:
        return np.zeros(0)
    workers = -1 if len(a) >= _PARALLEL_FROM else 1
    # Beyond the cutoff rapidfuzz stops early and returns cutoff + 1.
    out = process.cpdist(
        a, b, scorer=_DISTANCE[scorer], workers=workers, dtype=np.int32, score_cutoff=cutoff
    )
    return np.asarray(out, dtype=np.float64)


def distance_scorer(scorer: Scorer, cutoff: int | None = None) -> Callable[[str, str], int]:
    """A function giving one pair of strings the edit distance :func:`edit_distance` gives it.

    >>> distance_scorer("damerau_levenshtein")("1804974", "1809474")
    1
    >>> distance_scorer("levenshtein", cutoff=1)("abcd", "wxyz")
    2
    """
    if scorer not in _DISTANCE:
        raise ValueError(f"{scorer} is not an edit distance")
    return functools.partial(_DISTANCE[scorer], score_cutoff=cutoff)


# --------------------------------------------------------------------------- column codes


@dataclass(frozen=True, slots=True)
class ScalarCodes:
    """Integer codes of one column on both sides, over one shared list of distinct values."""

    left: IntArray
    right: IntArray
    uniques: npt.NDArray[np.object_]


class Columns:
    """Column arrays of a few records: a light stand-in for a DataFrame.

    The single-record path scores one record against tens of candidates; building and
    indexing a DataFrame would cost more than the comparisons themselves.

    >>> cols = Columns([{"id": "a", "n": "x"}, {"id": "b"}])
    >>> len(cols), cols["n"].tolist(), "n" in cols.columns
    (2, ['x', None], True)
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._records = records
        self._cache: dict[str, npt.NDArray[np.object_]] = {}
        # Codes of (right frame, column, other column): rules re-read compared columns.
        self.memo: dict[tuple[int, str, str | None, str], Any] = {}
        self.columns: frozenset[str] = frozenset().union(*records) if records else frozenset()

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> Sequence[Mapping[str, Any]]:
        """The records themselves: a few pairs are compared one value at a time."""
        return self._records

    def __getitem__(self, column: str) -> npt.NDArray[np.object_]:
        if column not in self._cache:
            arr = np.empty(len(self._records), dtype=object)
            arr[:] = [r.get(column) for r in self._records]
            self._cache[column] = arr
        return self._cache[column]


Frame = pd.DataFrame | Columns


def column_values(frame: Frame, column: str) -> npt.NDArray[np.object_]:
    """A column as an object array (all ``None`` when the frame lacks it).

    >>> column_values(pd.DataFrame({"a": [1]}), "b").tolist()
    [None]
    """
    if column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    if isinstance(frame, Columns):
        return frame[column]
    return frame[column].to_numpy(dtype=object)


_column = column_values
_SMALL = 512


def factorize(values: Sequence[Any] | npt.NDArray[Any]) -> tuple[IntArray, npt.NDArray[np.object_]]:
    """Integer codes (-1 for missing) and the distinct values, in order of appearance.

    Small inputs use a dict (pandas' set-up cost dominates there), large ones pandas.

    >>> codes, uniques = factorize(["b", None, "a", "b", float("nan")])
    >>> codes.tolist(), uniques.tolist()
    ([0, -1, 1, 0, -1], ['b', 'a'])
    """
    if len(values) > _SMALL:
        # Filled element by element: tuples must stay values, not become a second axis.
        flat = np.empty(len(values), dtype=object)
        flat[:] = list(values)
        codes, uniques = pd.factorize(flat)
        return codes.astype(np.int64), np.asarray(uniques, dtype=object)
    seen: dict[Any, int] = {}
    items = values.tolist() if isinstance(values, np.ndarray) and values.dtype == object else values
    small_codes = [
        # Most values are strings, which need no test for a missing value.
        seen.setdefault(v, len(seen)) if v.__class__ is str or not is_missing(v) else -1
        for v in items
    ]
    uniq = np.empty(len(seen), dtype=object)
    uniq[:] = list(seen)
    return np.asarray(small_codes, dtype=np.int64), uniq


def is_missing(value: Any) -> bool:
    """Whether a single value is missing: ``None`` or a float NaN.

    >>> is_missing(None), is_missing(float("nan")), is_missing(""), is_missing(())
    (True, True, False, False)
    """
    return value is None or (isinstance(value, float) and value != value)  # noqa: PLR0124 - NaN


def scalar_codes(
    left: Frame, right: Frame | None, column: str, other: str | None = None
) -> ScalarCodes:
    """Factorise a column of both frames into shared codes (-1 = missing).

    With ``other`` the right side reads that column instead (used for swapped fields).

    >>> frame = pd.DataFrame({"c": ["a", None, "b", "a"]})
    >>> sc = scalar_codes(frame, None, "c")
    >>> sc.left.tolist(), sc.uniques.tolist()
    ([0, -1, 1, 0], ['a', 'b'])
    """
    if isinstance(left, Columns):
        key = (id(right), column, other, "scalar")
        if key not in left.memo:
            left.memo[key] = _scalar_codes(left, right, column, other)
        return cast("ScalarCodes", left.memo[key])
    return _scalar_codes(left, right, column, other)


def _scalar_codes(left: Frame, right: Frame | None, column: str, other: str | None) -> ScalarCodes:
    if (
        right is None
        and other is None
        and isinstance(left, pd.DataFrame)
        and (column in left.columns and isinstance(left[column].dtype, pd.CategoricalDtype))
    ):
        cat = left[column].cat
        cat_codes = np.asarray(cat.codes.to_numpy(), dtype=np.int64)
        return ScalarCodes(cat_codes, cat_codes, cat.categories.to_numpy(dtype=object))
    lv = _column(left, column)
    if right is None and other is None:
        codes, uniques = factorize(lv)
        return ScalarCodes(codes, codes, uniques)
    rframe = left if right is None else right
    rv = _column(rframe, other or column)
    # A few records are joined as lists: the dict path reads lists without converting them.
    both = lv.tolist() + rv.tolist() if len(lv) + len(rv) <= _SMALL else np.concatenate([lv, rv])
    codes, uniques = factorize(both)
    return ScalarCodes(codes[: len(lv)], codes[len(lv) :], uniques)


@dataclass(frozen=True, slots=True)
class MultiCodes:
    """Code matrices (records x :data:`MAX_VALUES`, -1 padded) of a multi-valued column."""

    left: IntArray
    right: IntArray
    left_ns: IntArray
    right_ns: IntArray
    uniques: npt.NDArray[np.object_]


def _explode(values: npt.NDArray[np.object_]) -> tuple[IntArray, list[Any]]:
    if len(values) > _SMALL:
        series = pd.Series(values, dtype=object).explode()
        series = series[series.notna()]
        if not len(series):
            return np.zeros(0, dtype=np.int64), []
        rows_all = series.index.to_numpy(dtype=np.int64)
        position = series.groupby(level=0).cumcount().to_numpy()
        keep = position < MAX_VALUES
        return rows_all[keep], series.to_numpy(dtype=object)[keep].tolist()
    rows: list[int] = []
    flat: list[Any] = []
    for i, v in enumerate(values):
        if isinstance(v, tuple | list):
            for item in v[:MAX_VALUES]:
                rows.append(i)
                flat.append(item)
        elif v is not None and not (isinstance(v, float) and math.isnan(v)):
            rows.append(i)
            flat.append(v)
    return np.asarray(rows, dtype=np.int64), flat


def multi_codes(left: Frame, right: Frame | None, column: str) -> MultiCodes:
    """Turn a multi-valued column of both frames into padded code matrices.

    Values of the form ``namespace=value`` also get namespace codes (for conflict tests).

    >>> frame = pd.DataFrame({"p": [("+491", "+492"), (), ("+492",)]})
    >>> mc = multi_codes(frame, None, "p")
    >>> mc.left.tolist()
    [[0, 1, -1, -1], [-1, -1, -1, -1], [1, -1, -1, -1]]
    """
    if isinstance(left, Columns):
        key = (id(right), column, None, "multi")
        if key not in left.memo:
            left.memo[key] = _multi_codes(left, right, column)
        return cast("MultiCodes", left.memo[key])
    return _multi_codes(left, right, column)


def _multi_codes_small(
    lv: npt.NDArray[np.object_], rv: npt.NDArray[np.object_] | None
) -> MultiCodes:
    """The same matrices filled from lists: numpy set-up dominates for a few records."""
    seen: dict[Any, int] = {}
    namespaces: dict[str, int] = {}
    # Namespace code of each distinct value (and -1 for the padding), found once per value.
    ns_of: list[int] = []
    padding = [-1] * MAX_VALUES

    def fill(values: npt.NDArray[np.object_]) -> IntArray:
        rows: list[int] = []
        for v in values.tolist():
            items = v if isinstance(v, tuple | list) else (() if v is None else (v,))
            row: list[int] = []
            for item in items[:MAX_VALUES]:
                code = seen.get(item)
                if code is None:
                    code = seen[item] = len(seen)
                    text = str(item)
                    namespace = text.split("=", 1)[0] if "=" in text else ""
                    ns_of.append(namespaces.setdefault(namespace, len(namespaces)))
                row.append(code)
            rows += row
            rows += padding[len(row) :]
        return np.asarray(rows, dtype=np.int64).reshape(len(values), MAX_VALUES)

    lmat = fill(lv)
    rmat = lmat if rv is None else fill(rv)
    ns_codes = np.asarray([*ns_of, -1], dtype=np.int64)
    lns = ns_codes[lmat]
    rns = lns if rv is None else ns_codes[rmat]
    uniques = np.empty(len(seen), dtype=object)
    uniques[:] = list(seen)
    return MultiCodes(lmat, rmat, lns, rns, uniques)


def _multi_codes(left: Frame, right: Frame | None, column: str) -> MultiCodes:
    lv = _column(left, column)
    rv = lv if right is None else _column(right, column)
    if len(lv) + (0 if right is None else len(rv)) <= _SMALL:
        return _multi_codes_small(lv, None if right is None else rv)
    l_rows, l_flat = _explode(lv)
    r_rows, r_flat = ([], []) if right is None else _explode(rv)
    codes, uniques = factorize(l_flat + list(r_flat))
    ns_all = [str(u).split("=", 1)[0] if "=" in str(u) else "" for u in uniques]
    ns_of, _ = factorize(ns_all)

    def matrix(n: int, rows: Any, cds: IntArray) -> tuple[IntArray, IntArray]:
        mat = np.full((n, MAX_VALUES), -1, dtype=np.int64)
        ns = np.full((n, MAX_VALUES), -1, dtype=np.int64)
        rows_arr = np.asarray(rows, dtype=np.int64)
        if len(rows_arr):
            # Position of each value within its record: running count per row.
            starts = np.r_[0, np.flatnonzero(np.diff(rows_arr)) + 1]
            pos = np.arange(len(rows_arr)) - np.repeat(
                starts, np.diff(np.r_[starts, len(rows_arr)])
            )
            mat[rows_arr, pos] = cds
            ns[rows_arr, pos] = ns_of[cds]
        return mat, ns

    codes = codes.astype(np.int64)
    lmat, lns = matrix(len(lv), l_rows, codes[: len(l_flat)])
    if right is None:
        return MultiCodes(lmat, lmat, lns, lns, np.asarray(uniques))
    rmat, rns = matrix(len(rv), r_rows, codes[len(l_flat) :])
    return MultiCodes(lmat, rmat, lns, rns, np.asarray(uniques))


def multi_overlap(a: IntArray, b: IntArray) -> BoolArray:
    """Row-wise "share a value" of two padded code matrices.

    >>> multi_overlap(np.array([[1, 2], [3, -1]]), np.array([[2, -1], [-1, -1]])).tolist()
    [True, False]
    """
    if len(a) <= _SMALL:
        # Every slot pair of every row at once (rows x slots x slots): a few array operations
        # instead of a few per slot pair, whose set-up dominates for a single record's
        # handful of pairs (5 us against 38 for 6 rows). Slower for many rows (3x at 500,000).
        same = a[:, :, None] == b[:, None, :]
        return np.asarray((same & (a >= 0)[:, :, None]).any(axis=(1, 2)), dtype=bool)
    out = np.zeros(len(a), dtype=bool)
    for i in range(a.shape[1]):
        ai = a[:, i]
        valid = ai >= 0
        for j in range(b.shape[1]):
            out |= valid & (ai == b[:, j])
    return out


def multi_conflict(a: IntArray, b: IntArray, a_ns: IntArray, b_ns: IntArray) -> BoolArray:
    """Row-wise: some namespace present on both sides, with no value in common there.

    >>> a = np.array([[0, -1]]); b = np.array([[1, -1]]); ns = np.array([[0, -1]])
    >>> multi_conflict(a, b, ns, ns).tolist()
    [True]
    """
    if len(a) <= _SMALL:
        # All slot pairs at once, as in `multi_overlap` (10 us against 71 for 6 rows).
        ns_eq = (a >= 0)[:, :, None] & (b >= 0)[:, None, :] & (a_ns[:, :, None] == b_ns[:, None, :])
        same = a[:, :, None] == b[:, None, :]
        differ = (ns_eq & ~same).any(axis=(1, 2))
        return np.asarray(differ & ~(ns_eq & same).any(axis=(1, 2)), dtype=bool)
    same_ns_diff = np.zeros(len(a), dtype=bool)
    agree = np.zeros(len(a), dtype=bool)
    for i in range(a.shape[1]):
        valid = a[:, i] >= 0
        for j in range(b.shape[1]):
            ns_eq = valid & (a_ns[:, i] == b_ns[:, j]) & (b[:, j] >= 0)
            same = a[:, i] == b[:, j]
            same_ns_diff |= ns_eq & ~same
            agree |= ns_eq & same
    return same_ns_diff & ~agree


def multi_present(mat: IntArray) -> BoolArray:
    """Row-wise: the record has at least one value.

    >>> multi_present(np.array([[-1, -1], [4, -1]])).tolist()
    [False, True]
    """
    return np.asarray((mat >= 0).any(axis=1), dtype=bool)


# --------------------------------------------------------------------------- IDF token cosine


@dataclass(frozen=True, slots=True)
class IdfTable:
    """Document frequencies of tokens in one column (tokens seen once are not stored)."""

    n_docs: int
    doc_freq: Mapping[str, int]
    # Weights of the table's tokens once computed: a model's table scores every request.
    # Only stored tokens are kept, so the cache never outgrows the table.
    _weights: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def weight(self, token: str) -> float:
        """Inverse document frequency of ``token`` (unseen tokens count as seen once).

        >>> IdfTable(100, {"gmbh": 50}).weight("gmbh") < IdfTable(100, {}).weight("x")
        True
        """
        cached = self._weights.get(token)
        if cached is not None:
            return cached
        df = self.doc_freq.get(token)
        weight = math.log((1 + self.n_docs) / (1 + (1 if df is None else df))) + 1.0
        if df is not None:
            self._weights[token] = weight
        return weight


def build_idf(values: npt.NDArray[np.object_], max_tokens: int = 100_000) -> IdfTable:
    """Count in how many values each token occurs.

    >>> build_idf(np.array(["acme tools", "acme", None], dtype=object)).doc_freq
    {'acme': 2}
    """
    counts: dict[str, int] = {}
    n = 0
    for value, count in pd.Series(values, dtype=object).value_counts(dropna=True).items():
        n += int(count)
        for token in set(str(value).split()):
            counts[token] = counts.get(token, 0) + int(count)
    kept = sorted(((t, c) for t, c in counts.items() if c > 1), key=lambda tc: -tc[1])
    return IdfTable(n_docs=max(n, 1), doc_freq=dict(kept[:max_tokens]))


def _idf_matrix(uniques: npt.NDArray[np.object_], table: IdfTable) -> sparse.csr_matrix:
    token_lists = [list(dict.fromkeys(str(v).split())) for v in uniques.tolist()]
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    flat = [t for tokens in token_lists for t in tokens]
    codes, vocab = pd.factorize(np.asarray([*flat, ""], dtype=object)[:-1])
    weights = np.fromiter((table.weight(t) for t in vocab), dtype=np.float64, count=len(vocab))
    data = weights[codes] if len(codes) else np.zeros(0)
    rows = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
    norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(token_lists)))
    data = data / np.where(norms > 0, norms, 1.0)[rows]
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    return sparse.csr_matrix(
        (data, codes.astype(np.int64), indptr), shape=(len(token_lists), max(len(vocab), 1))
    )


def idf_vector(value: Any, table: IdfTable) -> dict[str, float]:
    """A value's distinct tokens weighted by IDF, scaled to unit length.

    >>> idf_vector("acme acme", IdfTable(10, {}))
    {'acme': 1.0}
    """
    weights = {t: table.weight(t) for t in set(str(value).split())}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {t: w / norm for t, w in weights.items()}


def token_cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """The cosine of two unit token vectors (see :func:`idf_vector`).

    >>> token_cosine({"sony": 1.0}, {"sony": 0.6, "tv": 0.8})
    0.6
    """
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def _idf_cosine_small(
    uniques: npt.NDArray[np.object_], a: IntArray, b: IntArray, table: IdfTable
) -> FloatArray:
    """The same cosine with dicts: for a handful of pairs, sparse matrices cost more."""
    vectors: dict[int, dict[str, float]] = {}

    def vector(k: int) -> dict[str, float]:
        if k not in vectors:
            vectors[k] = idf_vector(uniques[k], table)
        return vectors[k]

    out = np.empty(len(a), dtype=np.float64)
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        out[i] = token_cosine(vector(x), vector(y))
    return out


def idf_cosine(
    uniques: npt.NDArray[np.object_], a: IntArray, b: IntArray, table: IdfTable
) -> FloatArray:
    """IDF-weighted token cosine between distinct values ``uniques[a]`` and ``uniques[b]``.

    A shared rare token (a model number) says much, a shared common word little.

    >>> u = np.array(["sony wh1000xm4 headphones", "wh1000xm4 black", "sony tv"], dtype=object)
    >>> t = IdfTable(1000, {"sony": 200, "headphones": 100, "black": 300, "tv": 50})
    >>> idf_cosine(u, np.array([0, 0]), np.array([1, 2]), t).round(2).tolist()
    [0.83, 0.17]
    """
    if len(a) == 0:
        return np.zeros(0)
    if len(a) <= _SMALL:
        return _idf_cosine_small(uniques, a, b, table)
    mat = _idf_matrix(uniques, table)
    return np.asarray(mat[a].multiply(mat[b]).sum(axis=1), dtype=np.float64).ravel()


# --------------------------------------------------------------------------- levels


def _unique_pairs(a: IntArray, b: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Distinct (a, b) code pairs and, per input pair, the index of its distinct pair."""
    if len(a) <= _SMALL:
        # A dict in order of appearance, as pandas below: np.unique's sort costs more here.
        seen: dict[tuple[int, int], int] = {}
        pairs = zip(a.tolist(), b.tolist(), strict=True)
        inverse_small = [seen.setdefault(p, len(seen)) for p in pairs]
        distinct = np.asarray(list(seen), dtype=np.int64).reshape(len(seen), 2)
        return distinct[:, 0], distinct[:, 1], np.asarray(inverse_small, dtype=np.int64)
    base = int(max(a.max(initial=0), b.max(initial=0))) + 1
    key = a * base + b
    # Hash-based factorize is linear; np.unique would sort.
    inverse, uniq = pd.factorize(key)
    uniq_arr = np.asarray(uniq, dtype=np.int64)
    return uniq_arr // base, uniq_arr % base, inverse.astype(np.int64)


class _PairScores:
    """Scores of the distinct value pairs of one comparison, computed once per scorer."""

    def __init__(
        self,
        comparison: Comparison,
        codes: ScalarCodes,
        *,
        a: IntArray,
        b: IntArray,
        work: IntArray,
        idf: IdfTable | None,
    ) -> None:
        self.comparison = comparison
        self.codes = codes
        self.work = work
        self.idf = idf
        self.ua, self.ub, self.inverse = _unique_pairs(a[work], b[work])
        self._strings: tuple[list[str], list[str]] | None = None
        self._cache: dict[tuple[str, str | None], FloatArray] = {}
        self._same_digits: BoolArray | None = None

    def same_digits(self) -> BoolArray:
        """Whether each work pair holds the same digits (shared by every such level)."""
        if self._same_digits is None:
            self._same_digits = same_digits(self.codes.uniques, self.ua, self.ub)[self.inverse]
        return self._same_digits

    def strings(self) -> tuple[list[str], list[str]]:
        if self._strings is None:
            # Columns compared by string scorers hold strings already.
            self._strings = (
                self.codes.uniques[self.ua].tolist(),
                self.codes.uniques[self.ub].tolist(),
            )
        return self._strings

    def scores(self, level: Level) -> FloatArray:
        """Score of each work pair for this level's scorer (shared by levels alike)."""
        key = (level.kind, level.scorer)
        if key not in self._cache:
            alike = [
                lv.threshold
                for lv in self.comparison.levels
                if (lv.kind, lv.scorer) == key and lv.threshold is not None
            ]
            if level.kind == "idf":
                uniq = idf_cosine(self.codes.uniques, self.ua, self.ub, self.idf or IdfTable(1, {}))
            elif level.kind == "distance":
                assert level.scorer is not None
                uniq = edit_distance(level.scorer, *self.strings(), cutoff=int(max(alike)))
            else:
                assert level.scorer is not None
                uniq = similarity(level.scorer, *self.strings(), cutoff=min(alike))
            self._cache[key] = uniq[self.inverse]
        return self._cache[key]


def date_days(uniques: npt.NDArray[np.object_]) -> FloatArray:
    """Days since 1900-01-01 of ``YYYYMMDD`` dates (NaN where a value is no such date).

    >>> date_days(np.array(["19000102", "1900-01-02", None], dtype=object)).tolist()
    [1.0, nan, nan]
    """
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object), format="%Y%m%d", errors="coerce")
    days = (parsed - pd.Timestamp("1900-01-01")).dt.days
    return np.asarray(days.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def transposed_date(value: Any) -> str | None:
    """A ``YYYYMMDD`` value with day and month swapped (None for other values).

    >>> transposed_date("19800312"), transposed_date(19800312)
    ('19801203', None)
    """
    if isinstance(value, str) and len(value) == 8:
        return f"{value[:4]}{value[6:8]}{value[4:6]}"
    return None


def _transposed(uniques: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    return np.asarray([transposed_date(v) for v in uniques], dtype=object)


@dataclass(slots=True)
class ComparisonOutcome:
    """Level per pair for one comparison, and the codes needed for TF adjustments."""

    levels: npt.NDArray[np.int8]
    left_codes: IntArray | None
    uniques: npt.NDArray[np.object_] | None


def _compared_elsewhere(
    comparison: Comparison, left: Frame, right: Frame | None, li: IntArray, ri: IntArray
) -> BoolArray:
    """Pairs where both records have the comparison's ``unless_compared`` column."""
    if comparison.unless_compared is None:
        return np.zeros(len(li), dtype=bool)
    finer = scalar_codes(left, right, comparison.unless_compared)
    return np.asarray((finer.left[li] >= 0) & (finer.right[ri] >= 0), dtype=bool)


def compare(
    comparison: Comparison,
    left: Frame,
    right: Frame | None,
    li: IntArray,
    ri: IntArray,
    *,
    multi: bool,
    idf: IdfTable | None = None,
) -> ComparisonOutcome:
    """Assign each pair its level index for one comparison (first level that holds wins).

    >>> from matching.spec import Level
    >>> comp = Comparison(name="n", column="n", levels=(
    ...     Level(label="null", kind="null"), Level(label="exact", kind="exact"),
    ...     Level(label="jw", kind="fuzzy", scorer="jaro_winkler", threshold=0.9),
    ...     Level(label="else", kind="else")))
    >>> frame = pd.DataFrame({"n": ["martha", "marhta", None, "zoe"]})
    >>> pairs = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 3])
    >>> compare(comp, frame, None, *pairs, multi=False).levels.tolist()
    [1, 2, 0, 3]
    """
    n = len(li)
    else_idx = len(comparison.levels) - 1
    levels = np.full(n, else_idx, dtype=np.int8)
    if multi:
        mc = multi_codes(left, right, comparison.column)
        a_mat, b_mat = mc.left[li], mc.right[ri]
        null = ~(multi_present(a_mat) & multi_present(b_mat))
        if comparison.unless_compared is not None:
            null |= _compared_elsewhere(comparison, left, right, li, ri)
        levels[null] = 0
        decided = null.copy()
        for k, level in enumerate(comparison.levels[1:-1], start=1):
            if level.column and level.kind in {"overlap", "exact"}:
                other = multi_codes(left, right, level.column)
                hit = ~decided & multi_overlap(other.left[li], other.right[ri])
            elif level.kind in {"overlap", "exact"}:
                hit = ~decided & multi_overlap(a_mat, b_mat)
            elif level.kind == "fuzzy":
                hit = ~decided & _multi_fuzzy(level, mc, a_mat, b_mat, decided)
            elif level.kind == "distance":
                hit = ~decided & _multi_distance(level, mc, a_mat, b_mat, decided)
            else:
                raise ValueError(
                    f"level kind {level.kind} does not apply to multi-valued "
                    f"column {comparison.column}"
                )
            levels[hit] = k
            decided |= hit
        return ComparisonOutcome(levels, None, None)

    codes = scalar_codes(left, right, comparison.column)
    a, b = codes.left[li], codes.right[ri]
    null = (a < 0) | (b < 0)
    if comparison.unless_compared is not None:
        null |= _compared_elsewhere(comparison, left, right, li, ri)
    levels[null] = 0
    decided = null.copy()
    values_days: FloatArray | None = None
    pair_scores: _PairScores | None = None
    for k, level in enumerate(comparison.levels[1:-1], start=1):
        todo = ~decided
        if not todo.any():
            break
        hit = np.zeros(n, dtype=bool)
        if level.kind == "exact":
            hit = todo & (a == b)
        elif level.kind in {"fuzzy", "distance", "idf"}:
            if pair_scores is None:
                pair_scores = _PairScores(
                    comparison, codes, a=a, b=b, work=np.flatnonzero(~null & (a != b)), idf=idf
                )
            scores = pair_scores.scores(level)
            assert level.threshold is not None
            ok = (
                scores <= level.threshold
                if level.kind == "distance"
                else (scores >= level.threshold - 1e-9)
            )
            if level.same_digits:
                ok &= pair_scores.same_digits()
            hit[pair_scores.work[ok]] = True
            # Equal values are not scored: theirs would be perfect (similarity and cosine 1,
            # distance 0), so the first scored level holds for them, with or without an exact
            # level before it (product titles have none).
            hit |= ~null & (a == b)
            hit &= todo
        elif level.kind == "numeric":
            vals = np.asarray(codes.uniques, dtype=np.float64)
            idx = np.flatnonzero(todo)
            x, y = vals[a[idx]], vals[b[idx]]
            denom = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)
            assert level.threshold is not None
            hit[idx[np.abs(x - y) / denom <= level.threshold]] = True
        elif level.kind == "date":
            idx = np.flatnonzero(todo)
            if level.transposed:
                # Code of each value's day-month swap within the same code space (-1: none).
                swapped = pd.Index(codes.uniques).get_indexer(pd.Index(_transposed(codes.uniques)))
                sw = swapped[a[idx]]
                ok = (sw >= 0) & (sw == b[idx]) & (a[idx] != b[idx])
                hit[idx[ok]] = True
            else:
                if values_days is None:
                    values_days = date_days(codes.uniques)
                assert level.threshold is not None
                diff = np.abs(values_days[a[idx]] - values_days[b[idx]])
                hit[idx[diff <= level.threshold]] = True
        elif level.kind == "swap":
            assert level.other_column is not None
            cross = scalar_codes(left, right, comparison.column, level.other_column)
            back = scalar_codes(left, right, level.other_column, comparison.column)
            # Both cross tests must hold: given(l) = surname(r) and surname(l) = given(r).
            x1 = cross.uniques[cross.left[li]]
            y1 = cross.uniques[cross.right[ri]]
            x2 = back.uniques[back.left[li]]
            y2 = back.uniques[back.right[ri]]
            ok = (
                (cross.left[li] >= 0)
                & (cross.right[ri] >= 0)
                & (back.left[li] >= 0)
                & (back.right[ri] >= 0)
            )
            hit = todo & ok & (x1 == y1) & (x2 == y2)
        elif level.kind == "overlap":
            hit = todo & (a == b)
        levels[hit] = k
        decided |= hit
    return ComparisonOutcome(levels, a, codes.uniques)


def _multi_fuzzy(
    level: Level, mc: MultiCodes, a_mat: IntArray, b_mat: IntArray, decided: BoolArray
) -> BoolArray:
    best = np.zeros(len(a_mat))
    assert level.scorer is not None
    assert level.threshold is not None
    for i in range(MAX_VALUES):
        for j in range(MAX_VALUES):
            ok = np.flatnonzero(~decided & (a_mat[:, i] >= 0) & (b_mat[:, j] >= 0))
            if len(ok) == 0:
                continue
            sa = [str(v) for v in mc.uniques[a_mat[ok, i]]]
            sb = [str(v) for v in mc.uniques[b_mat[ok, j]]]
            found = similarity(level.scorer, sa, sb)
            if level.same_digits:
                found[~same_digits(mc.uniques, a_mat[ok, i], b_mat[ok, j])] = 0.0
            best[ok] = np.maximum(best[ok], found)
    return best >= level.threshold - 1e-9


def _multi_distance(
    level: Level, mc: MultiCodes, a_mat: IntArray, b_mat: IntArray, decided: BoolArray
) -> BoolArray:
    """Whether some item of each side is within the level's edit distance of one of the other's.

    >>> from matching.spec import Level
    >>> level = Level(label="one edit", kind="distance", scorer="damerau_levenshtein",
    ...               threshold=1)
    >>> left, right = np.array([[0, -1], [1, 2]]), np.array([[3, -1], [4, -1]])
    >>> uniques = np.array(["id=8963800", "id=1", "id=77", "id=8968300", "id=99"], dtype=object)
    >>> mc = MultiCodes(left, right, left, right, uniques)
    >>> _multi_distance(level, mc, mc.left, mc.right, np.zeros(2, dtype=bool)).tolist()
    [True, False]
    """
    assert level.scorer is not None
    assert level.threshold is not None
    cutoff = int(level.threshold)
    hit = np.zeros(len(a_mat), dtype=bool)
    for i in range(a_mat.shape[1]):
        for j in range(b_mat.shape[1]):
            ok = np.flatnonzero(~decided & ~hit & (a_mat[:, i] >= 0) & (b_mat[:, j] >= 0))
            if len(ok) == 0:
                continue
            sa = [str(v) for v in mc.uniques[a_mat[ok, i]]]
            sb = [str(v) for v in mc.uniques[b_mat[ok, j]]]
            hit[ok] = edit_distance(level.scorer, sa, sb, cutoff=cutoff) <= cutoff
    return hit


_NOT_DIGIT = re.compile(r"\D+")


def digits_of(value: Any) -> str:
    """The digits of a value, in order (what :func:`same_digits` compares).

    >>> digits_of("CW1015-13"), digits_of(None)
    ('101513', '')
    """
    return _NOT_DIGIT.sub("", str(value))


def same_digits(
    uniques: npt.NDArray[np.object_], a: IntArray, b: IntArray
) -> npt.NDArray[np.bool_]:
    """Whether ``uniques[a]`` and ``uniques[b]`` hold the same digits in the same order.

    Each distinct value's digits are found once; the pairs compare integer codes.

    >>> u = np.array(["CW101513", "CW101519", "DSCW120", "DSCW120B"], dtype=object)
    >>> same_digits(u, np.array([0, 2]), np.array([1, 3])).tolist()
    [False, True]
    """
    if len(a) <= _SMALL:
        # The digits of the values in use, compared as strings: pandas' set-up costs more.
        digits: dict[int, str] = {}
        for k in (*a.tolist(), *b.tolist()):
            if k not in digits:
                digits[k] = digits_of(uniques[k])
        return np.asarray(
            [digits[x] == digits[y] for x, y in zip(a.tolist(), b.tolist(), strict=True)],
            dtype=np.bool_,
        ).reshape(len(a))
    digit_codes, _ = pd.factorize(
        np.asarray([digits_of(v) for v in uniques.tolist()] + [""], dtype=object)[:-1]
    )
    return np.asarray(digit_codes[a] == digit_codes[b], dtype=np.bool_)


def multi_columns(spec: MatchSpec) -> frozenset[str]:
    """Names of the standardised columns that hold tuples of values.

    >>> from matching.spec import default_customer_spec
    >>> sorted(multi_columns(default_customer_spec()))
    ['emails', 'emails_domains', 'phones', 'tax_ids', 'tax_ids_other']
    """
    out: set[str] = set()
    for std in spec.standardisers:
        if std.kind in {"phone", "email", "tax_id"}:
            out.add(std.column)
        if std.kind == "email":
            out.add(f"{std.column}_domains")
        if std.kind == "tax_id":
            out.add(f"{std.column}_other")
        if std.kind == "part_number":
            out.add(f"{std.column}_all")
    return frozenset(out)


def compare_all(
    spec: MatchSpec,
    left: Frame,
    right: Frame | None,
    li: IntArray,
    ri: IntArray,
    *,
    idf_tables: Mapping[str, IdfTable] | None = None,
) -> tuple[npt.NDArray[np.int8], list[ComparisonOutcome]]:
    """Compute the level matrix (pairs x comparisons) for every comparison of ``spec``.

    >>> from matching.spec import person_spec
    >>> frame = pd.DataFrame({"id": ["a", "b"], "given_name": ["ann", "ann"],
    ...                       "surname": ["lee", "li"]})
    >>> spec = person_spec(fields=("given_name", "surname"))
    >>> compare_all(spec, frame, None, np.array([0]), np.array([1]))[0].tolist()
    [[1, 6]]
    """
    multi = multi_columns(spec)
    outcomes = [
        compare(
            c, left, right, li, ri, multi=c.column in multi, idf=(idf_tables or {}).get(c.column)
        )
        for c in spec.comparisons
    ]
    matrix = (
        np.column_stack([o.levels for o in outcomes]).astype(np.int8)
        if outcomes
        else np.zeros((len(li), 0), dtype=np.int8)
    )
    return matrix, outcomes
