"""Blocking keys and candidate pairs on hand-counted tiny data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import matching as m
from matching import blocking
from matching.spec import BlockingRule, KeyPart, MatchSpec, Standardiser, person_spec

PEOPLE = [
    # id, given, surname, dob, postcode
    ("a", "ann", "lee", "19800101", "2000"),
    ("b", "ann", "lee", "19800101", "2001"),
    ("c", "anne", "lee", "19800101", "2000"),
    ("d", "bob", "ray", "19700505", "3000"),
    ("e", "bob", "ray", None, "3000"),
    ("f", "cy", "kim", "19600606", None),
]


def people_spec(max_block_size: int = 200) -> MatchSpec:
    base = person_spec(fields=("given_name", "surname", "date_of_birth", "postcode"))
    return base.model_copy(
        update={
            "blocking_rules": (
                BlockingRule(
                    name="dob",
                    parts=(KeyPart(column="date_of_birth"),),
                    max_block_size=max_block_size,
                ),
                BlockingRule(
                    name="name", parts=(KeyPart(column="given_name"), KeyPart(column="surname"))
                ),
                BlockingRule(name="postcode", parts=(KeyPart(column="postcode"),)),
            )
        }
    )


def frame() -> pd.DataFrame:
    rows = [
        dict(zip(("id", "given_name", "surname", "date_of_birth", "postcode"), p, strict=True))
        for p in PEOPLE
    ]
    return m.standardise(rows, people_spec())


def pair_ids(result: m.BlockingResult, std: pd.DataFrame, other: pd.DataFrame | None = None):
    right = std if other is None else other
    return sorted(
        zip(std["id"].to_numpy()[result.left], right["id"].to_numpy()[result.right], strict=True)
    )


def test_dedupe_pairs_hand_counted() -> None:
    # dob 19800101: a,b,c -> ab ac bc; name ann|lee: ab; bob|ray: de; postcode 2000: ac,
    # 3000: de. Union: ab, ac, bc, de = 4 of 15 possible pairs.
    std = frame()
    result = m.candidate_pairs(std, people_spec())
    assert pair_ids(result, std) == [("a", "b"), ("a", "c"), ("b", "c"), ("d", "e")]
    assert result.pairs_per_rule == {"dob": 3, "name": 2, "postcode": 2}
    assert result.total_pairs == 15
    assert abs(result.reduction_ratio - (1 - 4 / 15)) < 1e-12
    # a-b was found by dob and name (bits 0 and 1), d-e by name and postcode (bits 1, 2).
    masks = dict(zip(pair_ids(result, std), result.rule_mask.tolist(), strict=True))
    assert masks[("a", "b")] == 0b011
    assert masks[("d", "e")] == 0b110
    assert result.found_by("postcode").sum() == 2


def test_oversized_key_is_capped_and_reported() -> None:
    std = frame()
    result = m.candidate_pairs(std, people_spec(max_block_size=2))
    assert [(c.rule, c.key, c.size) for c in result.capped] == [("dob", "19800101", 3)]
    # Without the dob block: ab (name), ac (postcode), de.
    assert pair_ids(result, std) == [("a", "b"), ("a", "c"), ("d", "e")]


def test_rules_in_worker_processes_give_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    std = frame()
    monkeypatch.setattr(blocking, "PARALLEL_FROM", 1)
    result = m.candidate_pairs(std, people_spec(max_block_size=2), workers=2)
    assert pair_ids(result, std) == [("a", "b"), ("a", "c"), ("d", "e")]
    assert result.pairs_per_rule == {"dob": 0, "name": 2, "postcode": 2}
    assert [(c.rule, c.key, c.size) for c in result.capped] == [("dob", "19800101", 3)]
    masks = dict(zip(pair_ids(result, std), result.rule_mask.tolist(), strict=True))
    assert masks == {("a", "b"): 0b010, ("a", "c"): 0b100, ("d", "e"): 0b110}


def test_link_mode_only_pairs_across_frames() -> None:
    rows = [
        dict(zip(("id", "given_name", "surname", "date_of_birth", "postcode"), p, strict=True))
        for p in PEOPLE
    ]
    rows.append({"id": "z", "given_name": "ann", "surname": "lee"})
    left = m.standardise(rows[:3], people_spec())
    right = m.standardise(rows[3:], people_spec())
    result = m.candidate_pairs(left, people_spec(), other=right)
    # Only z (ann lee) shares a key with the left side, with a and b; never a-b itself.
    assert pair_ids(result, left, right) == [("a", "z"), ("b", "z")]
    assert result.total_pairs == 3 * 4


def test_blocking_keys_of_one_record_match_batch_pairs() -> None:
    spec = people_spec()
    std = frame()
    keys = {
        i: set(m.blocking_keys(r, spec))
        for i, r in zip(std["id"], std.to_dict("records"), strict=True)
    }
    result = m.candidate_pairs(std, spec)
    for a, b in pair_ids(result, std):
        assert keys[a] & keys[b]
    ids = list(keys)
    pairs = set(pair_ids(result, std))
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            assert bool(keys[a] & keys[b]) == ((a, b) in pairs)


def test_keys_of_a_frame_are_each_records_keys() -> None:
    spec = m.default_customer_spec()
    rows = [
        {
            "id": "1",
            "name": "Acme Widgets GmbH",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
            "phones": ["030 1234567", "+49 40 7654321"],
            "emails": ["info@acme.example"],
            "tax_ids": ["DE123456789"],
        },
        # The same name and town: the name's keys are shared, each row still has its own.
        {
            "id": "2",
            "name": "Acme Widgets",
            "city": "Berlin",
            "country": "DE",
            "phones": ["+49 40 765 4321"],
        },
        # No postcode: no key of a rule with a postcode part; no phones, no phone key.
        {
            "id": "3",
            "name": "Globex Corporation",
            "city": "Springfield",
            "country": "US",
            "phones": [],
        },
        {"id": "4"},  # nothing to key on
    ]
    std = m.standardise(rows, spec)
    each = [
        (rule, key, row)
        for row, record in enumerate(std.to_dict("records"))
        for rule, key in m.blocking_keys(record, spec)
    ]
    found = m.frame_blocking_keys(std, spec)
    assert sorted(found) == sorted(each)
    assert len(found) == len(set(found))  # no key twice for one record
    by_row = {row: {rule for rule, _, r in found if r == row} for row in range(4)}
    assert [("phone" in by_row[r]) for r in range(4)] == [True, True, False, False]
    assert not by_row[3]
    # A frame that is not indexed from 0 (a slice of a larger one) is keyed by position.
    assert sorted(m.frame_blocking_keys(std.iloc[2:], spec)) == sorted(
        (rule, key, row - 2) for rule, key, row in each if row >= 2
    )


def test_multi_valued_keys_one_per_value() -> None:
    spec = m.MatchSpec(
        name="t",
        entity_type="other",
        standardisers=(Standardiser(field="phones", kind="phone", country_field="country"),),
        blocking_rules=(BlockingRule(name="phone", parts=(KeyPart(column="phones"),)),),
        comparisons=m.default_customer_spec().comparisons[8:9],
    )
    rows = [
        {"id": "1", "country": "DE", "phones": ["030 1234567", "+49 40 7654321"]},
        {"id": "2", "country": "DE", "phones": ["+49 40 765 4321"]},
        {"id": "3", "country": "DE", "phones": []},
    ]
    std = m.standardise(rows, spec)
    assert m.blocking_keys(std.iloc[0].to_dict(), spec) == [
        ("phone", "+49301234567"),
        ("phone", "+49407654321"),
    ]
    result = m.candidate_pairs(std, spec)
    assert np.column_stack([result.left, result.right]).tolist() == [[0, 1]]


def test_one_site_keyed_in_with_other_names_is_a_candidate_pair() -> None:
    spec = m.default_customer_spec()
    rows = [
        {
            "id": "a",
            "name": "Lehmann & Lehmann Fördertechnik",
            "address": "Hauptstraße 26",
            "postal_code": "44674",
            "city": "Dortmund",
            "country": "DE",
        },
        # Another spelling of the name, the same site.
        {
            "id": "b",
            "name": "Lehman u. Lehmann Foerdertechnik",
            "address": "Hauptstr. 26",
            "postal_code": "44674",
            "city": "Dortmund",
            "country": "DE",
        },
        # The same street and postcode, another number: not this rule's pair.
        {
            "id": "c",
            "name": "Vogel Metallbau",
            "address": "Hauptstraße 28",
            "postal_code": "44674",
            "city": "Dortmund",
            "country": "DE",
        },
        # The same site with a second line (and the street type spelt out) in one system only.
        {
            "id": "d",
            "name": "Wegner Logistik",
            "address": "40 Drake Brockman Drive, Eden Park",
            "postal_code": "4218",
            "country": "AU",
        },
        {
            "id": "e",
            "name": "Wegener Logistics",
            "address": "40 drake brockman dr",
            "postal_code": "4218",
            "country": "AU",
        },
    ]
    result = m.candidate_pairs(m.standardise(rows, spec), spec)
    rule = [r.name for r in spec.blocking_rules].index("postcode+address")
    found = {
        (int(a), int(b))
        for a, b, mask in zip(result.left, result.right, result.rule_mask, strict=True)
        if mask & (1 << rule)
    }
    assert found == {(0, 1), (3, 4)}
