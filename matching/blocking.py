"""Blocking: declarative rules compiled into blocking keys and candidate pairs.

A blocking rule names key parts (a standardised column and a transform). A record's keys are
``(rule name, key string)`` tuples: the hub stores them in an indexed table, so one new record
finds its candidates by index look-up. For whole batches, :func:`candidate_pairs` joins records
on the same keys with pandas group-by joins (no Python loop per pair).

A key shared by more than the rule's ``max_block_size`` records would produce a quadratic
number of useless pairs; such keys are capped and listed in the result, never dropped silently.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.comparisons import multi_columns
from matching.parallel import fork_map, shared
from matching.spec import BlockingRule, KeyTransform, MatchSpec

IntArray = npt.NDArray[np.int64]


@lru_cache(maxsize=1 << 20)
def key_values(value: str, transform: KeyTransform) -> tuple[str, ...]:
    """Reduce one standardised value to its key string(s) for a transform.

    >>> key_values("acme widgets europe", "first_two_tokens")
    ('acme widgets',)
    >>> key_values("widgets acme", "sorted_tokens")
    ('acme widgets',)
    >>> key_values("smith", "soundex"), key_values("19560409", "year")
    (('S530',), ('1956',))
    >>> key_values("wh 1000xm4 headphones", "tokens")
    ('wh', '1000xm4', 'headphones')
    >>> key_values("40 drake brockman dr eden park", "numbers_and_first_word")
    ('40 drake',)
    >>> key_values("robert bosch str 151", "numbers_and_first_word")
    ('151 robert',)
    """
    tokens = value.split()
    if not tokens:
        return ()
    if transform == "exact":
        return (value,)
    if transform == "first_token":
        return (tokens[0],)
    if transform == "first_two_tokens":
        return (" ".join(tokens[:2]),)
    if transform == "sorted_tokens":
        return (" ".join(sorted(set(tokens))),)
    if transform in {"metaphone", "soundex"}:
        import jellyfish

        if transform == "soundex":
            return (jellyfish.soundex(value.replace(" ", "")),)
        # Every token's phonetic code: catches spelling variants, yet stays selective.
        code = " ".join(c for c in (jellyfish.metaphone(t) for t in tokens) if c)
        return (code,) if code else ()
    if transform == "prefix3":
        return (value[:3],)
    if transform == "year":
        return (value[:4],) if len(value) >= 4 else ()
    if transform == "tokens":
        return tuple(dict.fromkeys(t for t in tokens if len(t) >= 2))
    if transform == "numbers_and_first_word":
        # An address's house and unit numbers and the first word of its street: what
        # stays when a second line or a spelling of the street type comes and goes.
        numbers = [t for t in tokens if any(c.isdigit() for c in t)]
        word = next((t for t in tokens if t.isalpha()), None)
        key = " ".join(numbers + ([word] if word else []))
        return (key,) if key else ()
    raise ValueError(f"unknown key transform {transform!r}")


def _values_of(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, tuple | list):
        return [str(v) for v in value if v is not None]
    if isinstance(value, float):
        if value != value:  # noqa: PLR0124 - NaN
            return []
        return [repr(value)]
    return [str(value)]


def blocking_keys(std_record: Mapping[str, Any], spec: MatchSpec) -> list[tuple[str, str]]:
    """Return the ``(rule name, key)`` pairs of one standardised record.

    >>> from matching.spec import default_customer_spec
    >>> from matching.standardisation import standardise_record
    >>> spec = default_customer_spec()
    >>> rec = standardise_record({"id": "1", "name": "Acme Widgets GmbH", "city": "Berlin",
    ...                           "postal_code": "10115", "country": "DE"}, spec)
    >>> blocking_keys(rec, spec)[:2]
    [('postcode+name', '10115|acme widgets'), ('name_key+city', 'acme widgets|berlin')]
    """
    out: list[tuple[str, str]] = []
    for rule in spec.blocking_rules:
        per_part: list[list[str]] = []
        for part in rule.parts:
            found: list[str] = []
            for v in _values_of(std_record.get(part.column)):
                found.extend(key_values(v, part.transform))
            per_part.append(list(dict.fromkeys(found)))
        out.extend((rule.name, "|".join(combo)) for combo in itertools.product(*per_part))
    return list(dict.fromkeys(out))


def frame_blocking_keys(std_frame: pd.DataFrame, spec: MatchSpec) -> list[tuple[str, str, int]]:
    """Every record's ``(rule name, key, row position)`` in a standardised frame, rule by rule.

    The same keys as `blocking_keys` of each row, found per distinct value rather than per
    record (a chunk of records shares most of its postcodes, towns and name tokens).

    >>> from matching.spec import default_customer_spec
    >>> from matching.standardisation import standardise
    >>> spec = default_customer_spec()
    >>> frame = standardise([{"id": "1", "name": "Acme Widgets GmbH", "city": "Berlin",
    ...                       "postal_code": "10115", "country": "DE"}], spec)
    >>> frame_blocking_keys(frame, spec)[:2]
    [('postcode+name', '10115|acme widgets', 0), ('name_key+city', 'acme widgets|berlin', 0)]
    """
    multi = multi_columns(spec)
    frame = std_frame.reset_index(drop=True)
    out: list[tuple[str, str, int]] = []
    for rule in spec.blocking_rules:
        rows, keys, part_strings, parts_of_key = _rule_rows(frame, rule, multi)
        texts = np.array(part_strings[0], dtype=object)[parts_of_key[:, 0]]
        for p in range(1, len(part_strings)):
            texts = texts + "|" + np.array(part_strings[p], dtype=object)[parts_of_key[:, p]]
        name = rule.name
        out.extend((name, k, r) for k, r in zip(texts[keys].tolist(), rows.tolist(), strict=True))
    return out


@dataclass(frozen=True, slots=True)
class CappedKey:
    """A blocking key shared by too many records; it produced no pairs."""

    rule: str
    key: str
    size: int


@dataclass(slots=True)
class BlockingResult:
    """Candidate pairs (row positions) and what produced them.

    ``rule_mask`` has bit ``k`` set when rule ``k`` of ``rule_names`` found the pair.
    """

    left: IntArray
    right: IntArray
    rule_mask: IntArray
    rule_names: tuple[str, ...]
    n_left: int
    n_right: int
    link: bool
    pairs_per_rule: dict[str, int] = field(default_factory=dict)
    capped: list[CappedKey] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.left)

    @property
    def total_pairs(self) -> int:
        """Number of pairs a full comparison would make."""
        if self.link:
            return self.n_left * self.n_right
        return self.n_left * (self.n_left - 1) // 2

    @property
    def reduction_ratio(self) -> float:
        """Share of all possible pairs that blocking avoided comparing."""
        total = self.total_pairs
        return 1.0 - len(self) / total if total else 1.0

    def found_by(self, rule: str) -> npt.NDArray[np.bool_]:
        """Mask of pairs found by the named rule."""
        bit = np.int64(1) << np.int64(self.rule_names.index(rule))
        return np.asarray((self.rule_mask & bit) != 0, dtype=np.bool_)


def _rule_rows(
    frame: pd.DataFrame, rule: BlockingRule, multi: frozenset[str]
) -> tuple[IntArray, IntArray, list[list[str]], IntArray]:
    """Rows and key codes of one rule over one frame (a record may have several keys).

    Returns ``(rows, key codes, per-part key strings, part codes of each distinct key)`` so
    that a capped key's text can be rebuilt without joining strings for every record.
    """
    n = len(frame)
    combined: pd.DataFrame | None = None
    part_strings: list[list[str]] = []
    for p, part in enumerate(rule.parts):
        col = frame[part.column] if part.column in frame.columns else pd.Series([None] * n)
        values = pd.Series(col.to_numpy(dtype=object), dtype=object)
        exploded = values.explode() if part.column in multi else values
        exploded = exploded[exploded.notna()]
        codes, uniques = pd.factorize(exploded)
        transform = part.transform
        key_map = [
            key_values(found[0], transform) if (found := _values_of(u)) else () for u in uniques
        ]
        # Key strings of this part, each distinct value mapped to its key-string codes.
        key_codes, key_uniques = pd.factorize(
            pd.Series([k for ks in key_map for k in ks], dtype=object)
        )
        reps = np.fromiter((len(k) for k in key_map), dtype=np.int64, count=len(key_map))
        offsets = (np.cumsum(reps) - reps).astype(np.int64)
        row_reps = reps[codes]
        rows = np.repeat(exploded.index.to_numpy(dtype=np.int64), row_reps)
        starts = np.repeat(offsets[codes], row_reps)
        within = np.arange(len(rows), dtype=np.int64) - np.repeat(
            (np.cumsum(row_reps) - row_reps).astype(np.int64), row_reps
        )
        part_frame = pd.DataFrame(
            {"row": rows, f"k{p}": key_codes.astype(np.int64)[starts + within]}
        )
        part_strings.append([str(u) for u in key_uniques])
        combined = part_frame if combined is None else combined.merge(part_frame, on="row")
    assert combined is not None
    combined = combined.drop_duplicates()
    key_cols = [f"k{p}" for p in range(len(rule.parts))]
    part_codes = combined[key_cols].to_numpy(dtype=np.int64)
    # Combine the part codes pairwise, re-factorising each time so the codes stay small.
    key_codes_arr = np.zeros(len(combined), dtype=np.int64)
    for p in range(len(key_cols)):
        base = int(part_codes[:, p].max(initial=0)) + 1
        key_codes_arr = pd.factorize(key_codes_arr * base + part_codes[:, p])[0].astype(np.int64)
    n_keys = int(key_codes_arr.max(initial=-1)) + 1
    first = np.zeros(n_keys, dtype=np.int64)
    first[key_codes_arr[::-1]] = np.arange(len(key_codes_arr) - 1, -1, -1, dtype=np.int64)
    parts_of_key = part_codes[first] if n_keys else np.zeros((0, len(key_cols)), np.int64)
    return (
        combined["row"].to_numpy(dtype=np.int64),
        key_codes_arr.astype(np.int64),
        part_strings,
        parts_of_key,
    )


# Below this many records, forking workers for the rules costs more than it saves.
PARALLEL_FROM = 20_000


def _rule_pairs(r: int) -> tuple[IntArray, list[CappedKey]]:
    """Pair codes (``left * n_right + right``) of one blocking rule, and its capped keys."""
    frame: pd.DataFrame = shared("frame")
    rule: BlockingRule = shared("rules")[r]
    n_left: int | None = shared("n_left")
    link = n_left is not None
    n_right = len(frame) - n_left if n_left is not None else len(frame)
    rows, keys, part_strings, parts_of_key = _rule_rows(frame, rule, shared("multi"))
    sizes = (
        np.bincount(keys, minlength=len(parts_of_key)) if len(keys) else np.zeros(0, dtype=np.int64)
    )
    too_big = np.flatnonzero(sizes > rule.max_block_size)
    capped = [
        CappedKey(
            rule.name,
            "|".join(part_strings[p][int(c)] for p, c in enumerate(parts_of_key[k])),
            int(sizes[k]),
        )
        for k in too_big
    ]
    keep = sizes[keys] <= rule.max_block_size if len(keys) else np.zeros(0, dtype=bool)
    keep &= sizes[keys] > 1 if len(keys) else keep
    long = pd.DataFrame({"row": rows[keep], "key": keys[keep]})
    if link:
        assert n_left is not None
        lpart = long[long["row"] < n_left]
        rpart = long[long["row"] >= n_left]
        joined = lpart.merge(rpart, on="key", suffixes=("_l", "_r"))
        li = joined["row_l"].to_numpy(dtype=np.int64)
        ri = joined["row_r"].to_numpy(dtype=np.int64) - n_left
        code = li * n_right + ri
    else:
        joined = long.merge(long, on="key", suffixes=("_l", "_r"))
        li = joined["row_l"].to_numpy(dtype=np.int64)
        ri = joined["row_r"].to_numpy(dtype=np.int64)
        lower = li < ri
        code = li[lower] * n_right + ri[lower]
    return np.unique(code), capped


def candidate_pairs(
    std_frame: pd.DataFrame,
    spec: MatchSpec,
    *,
    other: pd.DataFrame | None = None,
    workers: int = 1,
) -> BlockingResult:
    """Generate candidate pairs: within one frame (dedupe) or between two frames (link).

    Pairs are row positions; a dedupe pair always has ``left < right``. With ``workers`` > 1
    and many records, the blocking rules are computed in forked worker processes.

    >>> from matching.spec import person_spec
    >>> frame = pd.DataFrame({"id": list("abcd"), "given_name": ["ann", "ann", "bob", None],
    ...                       "surname": ["lee", "lee", "lee", "lee"]})
    >>> spec = person_spec(fields=("given_name", "surname"))
    >>> result = candidate_pairs(frame, spec)
    >>> list(zip(result.left.tolist(), result.right.tolist()))
    [(0, 1)]
    """
    multi = multi_columns(spec)
    link = other is not None
    n_left = len(std_frame)
    n_right = len(other) if other is not None else n_left
    codes_all: list[IntArray] = []
    bits_all: list[IntArray] = []
    per_rule: dict[str, int] = {}
    capped: list[CappedKey] = []
    frame = std_frame.reset_index(drop=True)
    if other is not None:
        frame = pd.concat([frame, other.reset_index(drop=True)], ignore_index=True)
    rules = list(spec.blocking_rules)
    # Each rule's keys are a Python loop over distinct values: rules run side by side.
    found = fork_map(
        _rule_pairs,
        list(range(len(rules))),
        workers=workers if len(frame) >= PARALLEL_FROM else 1,
        shared={"frame": frame, "rules": rules, "multi": multi, "n_left": n_left if link else None},
    )
    for r, (rule, (code, rule_capped)) in enumerate(zip(rules, found, strict=True)):
        capped.extend(rule_capped)
        per_rule[rule.name] = len(code)
        codes_all.append(code)
        bits_all.append(np.full(len(code), np.int64(1) << np.int64(r), dtype=np.int64))
    if codes_all:
        code_cat = np.concatenate(codes_all)
        bit_cat = np.concatenate(bits_all)
    else:
        code_cat = np.zeros(0, dtype=np.int64)
        bit_cat = np.zeros(0, dtype=np.int64)
    order = np.argsort(code_cat, kind="stable")
    code_sorted, bit_sorted = code_cat[order], bit_cat[order]
    if len(code_sorted):
        starts = np.r_[0, np.flatnonzero(np.diff(code_sorted)) + 1]
        uniq = code_sorted[starts]
        mask = np.bitwise_or.reduceat(bit_sorted, starts)
    else:
        uniq = code_sorted
        mask = bit_sorted
    return BlockingResult(
        left=(uniq // n_right).astype(np.int64) if n_right else uniq,
        right=(uniq % n_right).astype(np.int64) if n_right else uniq,
        rule_mask=mask.astype(np.int64),
        rule_names=tuple(r.name for r in spec.blocking_rules),
        n_left=n_left,
        n_right=n_right,
        link=link,
        pairs_per_rule=per_rule,
        capped=capped,
    )
