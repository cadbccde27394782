"""Unsupervised training of the Fellegi-Sunter model, with optional steward labels.

- ``u`` (how often non-matches agree at each level) comes from random record pairs, which are
  almost all non-matches, and is then held fixed.
- ``m`` (how often matches agree at each level) is learnt by expectation-maximisation without
  labels, once per blocking rule on the pairs that rule found and the rules leave open (a pair
  a cannot-link rule decides is never weighed by the model, so it does not train it), leaving
  out the comparisons that read the rule's own columns (they agree by construction there), as
  Splink does. The estimates of the sessions are pooled, weighted by each session's expected
  matches.
- EM cannot learn nonsense: ``u`` is fixed, ``m`` is constrained monotone over levels (a better
  level never has a lower ``m/u`` than a worse one, by pooling adjacent violators), and all
  probabilities are floored and capped.
- The prior (lambda) is the expected number of matches among the candidate pairs divided by
  the number of all possible pairs.
- Steward decisions: accepted pairs add their observed levels to ``m`` as pseudo-counts;
  rejected pairs are no evidence about ``m`` (they feed cannot-link constraints instead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.blocking import BlockingResult, candidate_pairs
from matching.comparisons import IdfTable, build_idf, compare_all, multi_columns
from matching.model import (
    PROBABILITY_FLOOR,
    ComparisonParameters,
    IdfDocument,
    MatchModel,
    TermFrequencies,
)
from matching.rules import evaluate_rules
from matching.spec import MatchSpec

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
LevelMatrix = npt.NDArray[np.int8]

EM_MAX_ITERATIONS = 40
EM_TOLERANCE = 1e-5
MIN_SESSION_PAIRS = 20
LABEL_STRENGTH = 1.0


def monotone_m(m: FloatArray, u: FloatArray) -> FloatArray:
    """Make ``m/u`` non-increasing from the best level to the worst, keeping ``sum(m)``.

    Adjacent violators are pooled (their ``m`` and ``u`` summed), which is the weighted
    least-squares isotonic fit of the ratio with weights ``u``.

    >>> monotone_m(np.array([0.2, 0.5, 0.3]), np.array([0.1, 0.1, 0.8])).round(3).tolist()
    [0.35, 0.35, 0.3]
    """
    blocks: list[list[float]] = []  # [sum m, sum u, count]
    for mi, ui in zip(m, u, strict=True):
        blocks.append([float(mi), float(ui), 1.0])
        while len(blocks) > 1 and (
            blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1] - 1e-15
        ):
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2]]
    out: list[float] = []
    start = 0
    for sm, su, count in blocks:
        size = int(count)
        ratio = sm / su
        out.extend(ratio * float(u[start + k]) for k in range(size))
        start += size
    return np.asarray(out)


def _normalise(p: FloatArray) -> FloatArray:
    total = float(p.sum())
    p = np.clip(p / total if total > 0 else np.full(len(p), 1.0 / len(p)), PROBABILITY_FLOOR, 1.0)
    return np.asarray(p / p.sum(), dtype=np.float64)


def _initial_m(n_levels: int) -> FloatArray:
    # Matches mostly agree at the best level; the rest decays geometrically.
    return _normalise(np.asarray([0.25**k for k in range(n_levels)], dtype=np.float64))


def expectation_maximisation(
    levels: LevelMatrix,
    u: Sequence[FloatArray],
    *,
    weights: FloatArray | None = None,
    m_start: Sequence[FloatArray] | None = None,
    prior_start: float = 0.05,
    fit_m: bool = True,
) -> tuple[list[FloatArray], float, float]:
    """Fit ``m`` (per comparison, per non-null level) and the prior on a set of pairs.

    ``levels`` is pairs x comparisons with 0 meaning "null"; ``u[c]`` holds the fixed ``u`` of
    comparison ``c`` for levels ``1..L-1``. Returns ``(m, prior, expected_matches)``.

    Exact expected pattern frequencies of a model with prior 0.2, m = (0.9, 0.1) and
    (0.8, 0.2), u = (0.05, 0.95) and (0.1, 0.9) give those parameters back:

    >>> lv = np.array([[1, 1], [1, 2], [2, 1], [2, 2]], dtype=np.int8)
    >>> u = [np.array([0.05, 0.95]), np.array([0.1, 0.9])]
    >>> freq = np.array([0.148, 0.072, 0.092, 0.688])
    >>> m, prior, _ = expectation_maximisation(lv, u, weights=freq)
    >>> round(prior, 2), [round(float(x), 2) for x in m[0]]
    (0.2, [0.9, 0.1])
    """
    # Each row of levels as one integer (mixed radix): a 1-D factorize instead of a row-wise
    # np.unique, which sorts void views and is many times slower.
    radix = np.asarray(
        [int(levels[:, c].max(initial=0)) + 1 for c in range(levels.shape[1])], dtype=np.int64
    )
    if float(np.prod(radix.astype(np.float64))) < 2.0**62:
        key = np.zeros(len(levels), dtype=np.int64)
        for c in range(levels.shape[1]):
            key = key * radix[c] + levels[:, c].astype(np.int64)
        inverse, _ = pd.factorize(key)
        first = np.zeros(int(inverse.max(initial=-1)) + 1, dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1, dtype=np.int64)
        patterns = levels[first]
    else:
        patterns, inverse = np.unique(levels, axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=weights, minlength=len(patterns)).astype(
        np.float64
    )
    n_comp = levels.shape[1]
    m = (
        [np.asarray(s, dtype=np.float64).copy() for s in m_start]
        if m_start
        else [_initial_m(len(u[c])) for c in range(n_comp)]
    )
    u_safe = [np.clip(np.asarray(x, dtype=np.float64), PROBABILITY_FLOOR, 1.0) for x in u]
    prior = prior_start
    expected = 0.0
    for _ in range(EM_MAX_ITERATIONS):
        log_bf = np.zeros(len(patterns))
        for c in range(n_comp):
            ratio = np.r_[0.0, np.log(np.clip(m[c], PROBABILITY_FLOOR, 1.0) / u_safe[c])]
            log_bf += ratio[patterns[:, c]]
        logit = math.log(prior / (1.0 - prior)) + log_bf
        resp = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        w = counts * resp
        expected = float(w.sum())
        new_prior = float(min(max(expected / counts.sum(), 1e-9), 0.999))
        delta = abs(new_prior - prior)
        prior = new_prior
        if fit_m:
            for c in range(n_comp):
                sums = np.bincount(patterns[:, c], weights=w, minlength=len(u[c]) + 1)[1:].astype(
                    np.float64
                )
                if sums.sum() <= 0:
                    continue
                new = monotone_m(_normalise(sums), u_safe[c])
                new = _normalise(new)
                delta = max(delta, float(np.abs(new - m[c]).max()))
                m[c] = new
        if delta < EM_TOLERANCE:
            break
    return m, prior, expected


def _level_counts(levels: npt.NDArray[np.int8], n_levels: int) -> FloatArray:
    return np.bincount(levels.astype(np.int64), minlength=n_levels)[1:].astype(np.float64)


def _random_pairs(
    n_left: int, n_right: int, *, link: bool, n_pairs: int, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    if link:
        total = n_left * n_right
        if total <= n_pairs:
            li, ri = np.divmod(np.arange(total, dtype=np.int64), n_right)
            return li, ri
        return (
            rng.integers(0, n_left, n_pairs, dtype=np.int64),
            rng.integers(0, n_right, n_pairs, dtype=np.int64),
        )
    total = n_left * (n_left - 1) // 2
    if total <= n_pairs:
        li, ri = np.triu_indices(n_left, k=1)
        return li.astype(np.int64), ri.astype(np.int64)
    li = rng.integers(0, n_left, n_pairs, dtype=np.int64)
    ri = rng.integers(0, n_left - 1, n_pairs, dtype=np.int64)
    ri = ri + (ri >= li)  # a record is never paired with itself
    return li, ri


def _tf_tables(spec: MatchSpec, frames: Sequence[pd.DataFrame]) -> list[TermFrequencies]:
    multi = multi_columns(spec)
    out = []
    for comp in spec.comparisons:
        if not comp.tf_adjust or comp.column in multi:
            continue
        present = [f[comp.column] for f in frames if comp.column in f.columns]
        if not present:  # no record has a value for this field
            continue
        values = pd.concat(present, ignore_index=True).dropna()
        if values.empty:
            continue
        # A categorical column counts by its codes; converting a million values to str first
        # costs more than the count.
        counts = (
            values.value_counts()
            if isinstance(values.dtype, pd.CategoricalDtype)
            else values.astype(str).value_counts()
        )
        counts.index = counts.index.astype(str)
        total = float(counts.sum())
        kept = counts[counts > 1].head(spec.tf_table_size)
        out.append(
            TermFrequencies(
                column=comp.column,
                frequencies={str(k): float(v) / total for k, v in kept.items()},
                default=1.0 / total,
            )
        )
    return out


def _idf_documents(spec: MatchSpec, frames: Sequence[pd.DataFrame]) -> list[IdfDocument]:
    out = []
    for comp in spec.comparisons:
        if not any(lv.kind == "idf" for lv in comp.levels):
            continue
        values = np.concatenate(
            [f[comp.column].to_numpy(dtype=object) for f in frames if comp.column in f.columns]
        )
        table = build_idf(values, max_tokens=spec.tf_table_size)
        out.append(
            IdfDocument(column=comp.column, n_docs=table.n_docs, doc_freq=dict(table.doc_freq))
        )
    return out


def _label_positions(
    labels: Iterable[tuple[str, str, bool]],
    left: pd.DataFrame,
    right: pd.DataFrame | None,
) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
    lpos = {str(v): i for i, v in enumerate(left["id"])}
    rpos = lpos if right is None else {str(v): i for i, v in enumerate(right["id"])}
    li, ri, matched = [], [], []
    for a, b, is_match in labels:
        if str(a) in lpos and str(b) in rpos:
            li.append(lpos[str(a)])
            ri.append(rpos[str(b)])
        elif right is not None and str(b) in lpos and str(a) in rpos:
            li.append(lpos[str(b)])
            ri.append(rpos[str(a)])
        else:
            continue
        matched.append(bool(is_match))
    return (
        np.asarray(li, dtype=np.int64),
        np.asarray(ri, dtype=np.int64),
        np.asarray(matched, dtype=bool),
    )


def train(
    std_frame: pd.DataFrame,
    spec: MatchSpec,
    *,
    other: pd.DataFrame | None = None,
    labels: Iterable[tuple[str, str, bool]] | None = None,
    blocking: BlockingResult | None = None,
    seed: int = 0,
    model_version: str = "1",
) -> MatchModel:
    """Train a model on standardised records (dedupe, or link ``std_frame`` to ``other``).

    ``labels`` are steward decisions ``(id_a, id_b, accepted)``; accepted pairs sharpen ``m``.

    >>> from matching.spec import person_spec
    >>> from matching.standardisation import standardise
    >>> rows = [{"id": str(i), "given_name": g, "surname": s} for i, (g, s) in enumerate(
    ...     [("ann", "lee"), ("ann", "lee"), ("bob", "ray"), ("bob", "ray"), ("cy", "kim")])]
    >>> spec = person_spec(fields=("given_name", "surname"))
    >>> model = train(standardise(rows, spec), spec)
    >>> model.parameters_for("surname").m[1] > model.parameters_for("surname").u[1]
    True
    """
    rng = np.random.default_rng(seed)
    frames = [std_frame] if other is None else [std_frame, other]
    idf_docs = _idf_documents(spec, frames)
    idf_tables: Mapping[str, IdfTable] = {
        d.column: IdfTable(d.n_docs, d.doc_freq) for d in idf_docs
    }
    link = other is not None
    n_left, n_right = len(std_frame), len(other) if other is not None else len(std_frame)

    # u from random pairs: almost all of them are non-matches.
    ul, ur = _random_pairs(n_left, n_right, link=link, n_pairs=spec.u_sample_pairs, rng=rng)
    u_levels, _ = compare_all(spec, std_frame, other, ul, ur, idf_tables=idf_tables)
    u_params: list[FloatArray] = []
    for c, comp in enumerate(spec.comparisons):
        counts = _level_counts(u_levels[:, c], len(comp.levels))
        # Half a pseudo-count keeps never-seen agreement (a rare ID) from having u = 0.
        u_params.append(_normalise((counts + 0.5) / (counts.sum() + 0.5 * len(counts))))

    blocked = blocking if blocking is not None else candidate_pairs(std_frame, spec, other=other)
    sample = np.arange(len(blocked))
    if len(sample) > spec.em_max_pairs:
        sample = np.sort(rng.choice(len(sample), spec.em_max_pairs, replace=False))
    # The model only ever weighs pairs the rules leave open, so it is fitted on those: a pair
    # a cannot-link rule decides (two roles of one company, two tax IDs) agrees on name,
    # website and phone like a match, and left in it teaches EM that "same company group" is
    # a match and that a different address hardly counts against one.
    open_pairs = ~evaluate_rules(
        spec, std_frame, other, blocked.left[sample], blocked.right[sample]
    ).cannot_link
    sample = sample[open_pairs]
    cand_levels, _ = compare_all(
        spec, std_frame, other, blocked.left[sample], blocked.right[sample], idf_tables=idf_tables
    )
    cand_mask = blocked.rule_mask[sample]

    # One EM session per blocking rule, without the comparisons that read the rule's columns.
    m_sum = [np.zeros(len(c.levels) - 1) for c in spec.comparisons]
    m_weight = np.zeros(len(spec.comparisons))
    sessions = np.zeros(len(spec.comparisons), dtype=np.int64)
    session_log: list[dict[str, object]] = []
    for r, rule in enumerate(spec.blocking_rules):
        in_rule = (cand_mask & (np.int64(1) << np.int64(r))) != 0
        if in_rule.sum() < MIN_SESSION_PAIRS:
            continue
        keep = [c for c, comp in enumerate(spec.comparisons) if not (comp.columns & rule.columns)]
        if len(keep) < 2:
            continue
        m, prior, expected = expectation_maximisation(
            cand_levels[in_rule][:, keep], [u_params[c] for c in keep]
        )
        session_log.append(
            {
                "rule": rule.name,
                "pairs": int(in_rule.sum()),
                "expected_matches": round(expected, 1),
                "prior": prior,
            }
        )
        for k, c in enumerate(keep):
            m_sum[c] += m[k] * expected
            m_weight[c] += expected
            sessions[c] += 1
    missing = [c for c in range(len(spec.comparisons)) if m_weight[c] <= 0]
    if missing and len(cand_levels):
        # Comparisons covered by every rule: fall back to EM on all candidate pairs.
        m, _, expected = expectation_maximisation(cand_levels, u_params)
        for c in missing:
            m_sum[c] = m[c] * max(expected, 1.0)
            m_weight[c] = max(expected, 1.0)
    m_params = [
        _normalise(m_sum[c] / m_weight[c]) if m_weight[c] > 0 else _initial_m(len(u_params[c]))
        for c in range(len(spec.comparisons))
    ]

    n_labels = 0
    if labels is not None:
        li, ri, matched = _label_positions(labels, std_frame, other)
        n_labels = int(matched.sum())
        if n_labels:
            lab_levels, _ = compare_all(
                spec, std_frame, other, li[matched], ri[matched], idf_tables=idf_tables
            )
            for c, comp in enumerate(spec.comparisons):
                counts = _level_counts(lab_levels[:, c], len(comp.levels))
                # Each session's estimate counts as many pseudo-observations as it had
                # expected matches; labels add real observations on top.
                strength = max(float(m_weight[c]) / max(int(sessions[c]), 1), 1.0)
                blended = (m_params[c] * strength + counts * LABEL_STRENGTH) / (
                    strength + counts.sum() * LABEL_STRENGTH
                )
                m_params[c] = _normalise(monotone_m(blended, u_params[c]))

    # Prior: expected matches among all candidate pairs over all possible pairs. (Counting only
    # the open pairs' share is the stricter estimate; on 300k generated customers it cost 0.002
    # of recall for 0.0001 of precision, so the looser one stays.)
    _, cand_prior, _ = (
        expectation_maximisation(cand_levels, u_params, m_start=m_params, fit_m=False)
        if len(cand_levels)
        else (None, 0.0, 0.0)
    )
    expected_total = cand_prior * len(blocked)
    prior = min(max(expected_total / max(blocked.total_pairs, 1), 1e-9), 0.5)

    parameters = [
        ComparisonParameters(
            comparison=comp.name,
            m=[None, *[float(x) for x in m_params[c]]],
            u=[None, *[float(x) for x in u_params[c]]],
            m_sessions=int(sessions[c]),
        )
        for c, comp in enumerate(spec.comparisons)
    ]
    return MatchModel(
        model_version=model_version,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        spec=spec,
        prior=prior,
        parameters=parameters,
        term_frequencies=_tf_tables(spec, frames),
        idf=idf_docs,
        training_counts={
            "records": n_left if other is None else n_left + n_right,
            "random_pairs": len(ul),
            "candidate_pairs": len(blocked),
            "em_pairs": len(sample),
            "expected_matches": round(expected_total, 1),
            "accepted_labels": n_labels,
            "sessions": session_log,
        },
    )
