"""Comparison levels, vectorised, against hand-worked expectations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching.comparisons import IdfTable, compare, multi_codes, multi_conflict, multi_overlap
from matching.spec import Comparison, Level, default_customer_spec, default_product_spec

NULL = Level(label="null", kind="null")
ELSE = Level(label="else", kind="else")


def levels_of(
    comp: Comparison,
    values: list[object],
    pairs: list[tuple[int, int]],
    multi: bool = False,
    idf: IdfTable | None = None,
) -> list[int]:
    frame = pd.DataFrame({comp.column: pd.Series(values, dtype=object)})
    li = np.array([p[0] for p in pairs])
    ri = np.array([p[1] for p in pairs])
    return compare(comp, frame, None, li, ri, multi=multi, idf=idf).levels.tolist()


def test_first_matching_level_wins_and_null_is_zero() -> None:
    comp = Comparison(
        name="n",
        column="n",
        levels=(
            NULL,
            Level(label="exact", kind="exact"),
            Level(label="dl1", kind="distance", scorer="damerau_levenshtein", threshold=1),
            Level(label="jw", kind="fuzzy", scorer="jaro_winkler", threshold=0.8),
            ELSE,
        ),
    )
    values = ["jonathan", "jonathan", "jonahtan", "johnathon", "zed", None]
    pairs = [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]
    # exact; one transposition; johnathon: 2 edits but jw 0.83 >= 0.8; else; null.
    assert levels_of(comp, values, pairs) == [1, 2, 3, 4, 0]


def test_date_levels_transposition_and_closeness() -> None:
    comp = Comparison(
        name="d",
        column="d",
        levels=(
            NULL,
            Level(label="exact", kind="exact"),
            Level(label="swap", kind="date", transposed=True),
            Level(label="month", kind="date", threshold=31),
            ELSE,
        ),
    )
    values = ["19800102", "19800201", "19800120", "19810102", "garbage"]
    pairs = [(0, 1), (0, 2), (0, 3), (0, 4)]
    assert levels_of(comp, values, pairs) == [2, 3, 4, 4]


def test_numeric_relative_difference() -> None:
    comp = default_product_spec().comparison("price")
    values = [100.0, 104.0, 120.0, 200.0, None]
    assert levels_of(comp, values, [(0, 1), (0, 2), (0, 3), (0, 4)]) == [1, 2, 3, 0]


def test_swap_level_needs_both_crossings() -> None:
    comp = Comparison(
        name="g",
        column="g",
        levels=(
            NULL,
            Level(label="exact", kind="exact"),
            Level(label="swap", kind="swap", other_column="s"),
            ELSE,
        ),
    )
    frame = pd.DataFrame({"g": ["ann", "lee", "lee"], "s": ["lee", "ann", "bob"]})
    out = compare(comp, frame, None, np.array([0, 0]), np.array([1, 2]), multi=False)
    assert out.levels.tolist() == [2, 3]


def test_multi_valued_overlap_and_namespace_conflict() -> None:
    frame = pd.DataFrame(
        {
            "t": [
                ("DE:vat=DE1",),
                ("DE:vat=DE2", "FR:vat=FR9"),
                ("FR:vat=FR9",),
                ("DE:vat=DE1", "DE:vat=DE3"),
                (),
            ]
        }
    )
    comp = Comparison(
        name="t", column="t", levels=(NULL, Level(label="same", kind="overlap"), ELSE)
    )
    pairs = [(0, 1), (1, 2), (0, 3), (0, 4)]
    assert levels_of(comp, list(frame["t"]), pairs, multi=True) == [2, 1, 1, 0]
    mc = multi_codes(frame, None, "t")
    li, ri = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    conflict = multi_conflict(mc.left[li], mc.right[ri], mc.left_ns[li], mc.right_ns[ri])
    # 0-1: two different German VAT numbers; 1-2 agree on the French one; 0-3 share DE1.
    assert conflict.tolist() == [True, False, False, False]


def test_idf_level_rewards_rare_shared_tokens() -> None:
    comp = Comparison(
        name="t", column="t", levels=(NULL, Level(label="hi", kind="idf", threshold=0.5), ELSE)
    )
    idf = IdfTable(10_000, {"sony": 3000, "black": 2500, "headphones": 800})
    values = ["sony wh1000xm4 black", "wh1000xm4 headphones", "sony black headphones"]
    # Sharing the rare model token passes; sharing two common words does not.
    assert levels_of(comp, values, [(0, 1), (0, 2)], idf=idf) == [1, 2]


def test_link_mode_codes_are_shared_across_frames() -> None:
    comp = Comparison(name="n", column="n", levels=(NULL, Level(label="exact", kind="exact"), ELSE))
    left = pd.DataFrame({"n": ["x", "y"]})
    right = pd.DataFrame({"n": ["y", "x", None]})
    out = compare(comp, left, right, np.array([0, 0, 1, 1]), np.array([0, 1, 0, 2]), multi=False)
    assert out.levels.tolist() == [2, 1, 1, 0]


def test_email_levels_count_address_and_domain_once() -> None:
    comp = default_customer_spec().comparison("email")
    frame = pd.DataFrame(
        {
            "emails": [
                ("a@acme.com",),
                ("a@acme.com",),
                ("b@acme.com",),
                ("c@gmail.com",),
                ("d@gmail.com",),
            ],
            "emails_domains": [("acme.com",), ("acme.com",), ("acme.com",), (), ()],
        }
    )
    pairs = [(0, 1), (0, 2), (3, 4), (0, 3)]
    li = np.array([p[0] for p in pairs])
    ri = np.array([p[1] for p in pairs])
    out = compare(comp, frame, None, li, ri, multi=True).levels.tolist()
    # same address; same company domain; a shared free-mail domain is no evidence; else.
    assert out == [1, 2, 3, 3]


def test_a_customer_address_with_other_house_numbers_is_another_address() -> None:
    from matching.standardisation import standardise

    spec = default_customer_spec()
    comp = spec.comparison("address")
    streets = [
        "Robert-Bosch-Straße 151",
        "ROBERT-BOSCH-STRASSE 151",  # the same, spelt otherwise
        "Robert-Bosch-Str. 69",  # the same street, another building
        "Robert-Bosch-Straße 15",  # a digit short
        "Robert-Bosch-Strasse 151a",  # a unit letter: the same digits
    ]
    frame = standardise([{"id": str(i), "address": s} for i, s in enumerate(streets)], spec)
    labels = [lv.label for lv in comp.levels]
    got = levels_of(comp, frame["address"].tolist(), [(0, 1), (0, 2), (0, 3), (0, 4)])
    assert [labels[g] for g in got] == ["exact", "else", "else", "token-set>=0.9"]


def test_the_city_counts_only_where_a_postcode_is_missing() -> None:
    comp = default_customer_spec().comparison("city")
    frame = pd.DataFrame(
        {
            "city": ["koeln", "koeln", "bonn", "koeln", None],
            "postal_code": ["50667", "50668", None, None, "53111"],
        }
    )
    pairs = [(0, 1), (0, 2), (2, 3), (0, 3), (1, 4)]
    li = np.array([p[0] for p in pairs])
    ri = np.array([p[1] for p in pairs])
    labels = [lv.label for lv in comp.levels]
    got = compare(comp, frame, None, li, ri, multi=False).levels.tolist()
    # Both postcodes known: the postcode comparison says it. Else the city, when both have one.
    assert [labels[g] for g in got] == ["null", "else", "else", "exact", "null"]


@pytest.mark.parametrize("rows", [6, 400, 1500])
def test_row_wise_overlap_and_conflict_hold_slot_by_slot(rows: int) -> None:
    """Both forms (all slot pairs at once for few rows, slot pair by pair for many) agree
    with the definitions on random rows."""
    rng = np.random.default_rng(rows)
    slots = 4
    # Few distinct codes and namespaces, -1 for empty slots: overlaps and conflicts both occur.
    a = np.where(rng.random((rows, slots)) < 0.4, -1, rng.integers(0, 5, (rows, slots)))
    b = np.where(rng.random((rows, slots)) < 0.4, -1, rng.integers(0, 5, (rows, slots)))
    a_ns = np.where(a < 0, -1, a % 2)
    b_ns = np.where(b < 0, -1, b % 2)
    overlap, conflict = [], []
    for r in range(rows):
        pairs = [(i, j) for i in range(slots) for j in range(slots) if a[r, i] >= 0 <= b[r, j]]
        overlap.append(any(a[r, i] == b[r, j] for i, j in pairs))
        same_ns = [(i, j) for i, j in pairs if a_ns[r, i] == b_ns[r, j]]
        conflict.append(
            any(a[r, i] != b[r, j] for i, j in same_ns)
            and not any(a[r, i] == b[r, j] for i, j in same_ns)
        )
    assert multi_overlap(a, b).tolist() == overlap
    assert multi_conflict(a, b, a_ns, b_ns).tolist() == conflict
    assert 0 < sum(overlap) < rows
    assert 0 < sum(conflict) < rows or rows < 50


def test_equal_values_hold_at_the_first_scored_level_without_an_exact_level():
    # Product titles are compared by IDF cosine only: two identical titles are the best
    # agreement there is, not the disagreement ("else") of values nobody scored.
    comp = Comparison(
        name="title",
        column="name",
        levels=(
            Level(label="null", kind="null"),
            Level(label="idf>=0.8", kind="idf", threshold=0.8),
            Level(label="idf>=0.4", kind="idf", threshold=0.4),
            Level(label="else", kind="else"),
        ),
    )
    frame = pd.DataFrame({"name": ["bosch gsr 12v", "bosch gsr 12v", "makita drill", None]})
    table = IdfTable(100, {"bosch": 10, "gsr": 5, "12v": 5, "makita": 10, "drill": 20})
    pairs = np.array([0, 0, 0]), np.array([1, 2, 3])
    levels = compare(comp, frame, None, *pairs, multi=False, idf=table).levels.tolist()
    assert levels == [1, 3, 0]


def test_an_unchecked_identifier_one_typo_apart_is_its_own_level_in_both_paths() -> None:
    from matching.pairwise import Columns, compare_pairs

    spec = default_customer_spec()
    comp = spec.comparison("other_id")
    labels = [lv.label for lv in comp.levels]
    ids = [
        ("national_id=8963800",),
        ("national_id=8968300",),  # two digits swapped
        ("national_id=8963801", "duns_like=12"),  # one digit changed, as the second value
        ("national_id=8063811",),  # three digits changed
        ("national_id=8963800",),  # the same
        None,
    ]
    pairs = [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]
    expected = ["one typo", "one typo", "else", "same", "null"]
    frame = pd.DataFrame({"tax_ids_other": ids})
    li = np.array([p[0] for p in pairs])
    ri = np.array([p[1] for p in pairs])
    vectorised = compare(comp, frame, None, li, ri, multi=True).levels.tolist()
    assert [labels[k] for k in vectorised] == expected
    position = [c.name for c in spec.comparisons].index("other_id")
    columns = Columns([{"tax_ids_other": v} for v in ids])
    per_pair, _ = compare_pairs(spec, columns, None, li, ri)
    assert [labels[k] for k in per_pair[:, position].tolist()] == expected
