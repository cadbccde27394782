"""Scoring, rules and explanations on the small customer world (roles and sites)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching as m
import matching.comparisons as comparisons
import matching.scoring as scoring
from matching.comparisons import Columns
from matching.model import ComparisonParameters, TermFrequencies


def _scored(customers, model):
    spec = model.spec
    std = m.standardise(customers, spec)
    return std, m.score(model, std, None, m.candidate_pairs(std, spec))


def _assert_identical(got, want, *, explanations=True):
    """Two scorings of the same pairs agree in every field, exactly (==, never "close")."""
    assert got.levels.dtype == want.levels.dtype == np.int8
    assert got.tf_adjustments.dtype == want.tf_adjustments.dtype == np.float32
    assert np.array_equal(got.left, want.left)
    assert np.array_equal(got.right, want.right)
    assert np.array_equal(got.levels, want.levels)
    assert np.array_equal(got.tf_adjustments, want.tf_adjustments)
    assert np.array_equal(got.match_weight, want.match_weight)
    assert np.array_equal(got.probability, want.probability)
    assert got.rules.rule_names == want.rules.rule_names
    assert np.array_equal(got.rules.fired, want.rules.fired)
    assert np.array_equal(got.rules.must_link, want.rules.must_link)
    assert np.array_equal(got.rules.cannot_link, want.rules.cannot_link)
    assert np.array_equal(got.rules.review_only, want.rules.review_only)
    assert got.left_ids.tolist() == want.left_ids.tolist()
    assert got.right_ids.tolist() == want.right_ids.tolist()
    if explanations:
        for i in range(len(got)):
            assert got.explain(i) == want.explain(i)


def _refuse(*args, **kwargs):
    raise AssertionError("a handful of pairs of column arrays is compared one pair at a time")


def _three_paths(model, left_records, right_records, pairs):
    """Score pairs of column arrays one pair at a time, on the vectorised path, and on the
    vectorised path as it runs for many records (pandas, sparse matrices, cpdist in bulk).

    Each path gets column arrays of its own: they keep the codes they computed.
    """

    def columns():
        return Columns(left_records), None if right_records is None else Columns(right_records)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(scoring, "compare_all", _refuse)
        patched.setattr(scoring, "evaluate_rules", _refuse)
        per_pair = m.score(model, *columns(), pairs)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(scoring, "_PER_PAIR_UP_TO", -1)
        vectorised = m.score(model, *columns(), pairs)
        patched.setattr(comparisons, "_SMALL", -1)
        bulk = m.score(model, *columns(), pairs)
    return per_pair, vectorised, bulk


def _all_pairs(n):
    return tuple(
        np.array(p, dtype=np.int64)
        for p in zip(*((i, j) for i in range(n) for j in range(i + 1, n)), strict=True)
    )


def test_same_site_in_two_systems_matches_but_roles_and_sites_never_do(customers, customer_model):
    std, scored = _scored(customers, customer_model)
    entity = std["id"].map({r["id"]: r["entity_id"] for r in customers}).to_numpy()
    same_entity = entity[scored.left] == entity[scored.right]
    decisions = scored.decisions()
    # Different golden records (a company vs its ship-to, two ship-tos) never auto-match.
    assert not (decisions[~same_entity] == 2).any()
    # The same site seen by ERP and CRM does, for nearly all of them.
    assert (decisions[same_entity] == 2).mean() > 0.95
    roles = std["role"].to_numpy()
    cross_role = roles[scored.left] != roles[scored.right]
    assert cross_role.any()
    assert (scored.probability[cross_role] == 0).all()


def test_explanation_lists_every_comparison_and_the_rules(customers, customer_model):
    std, scored = _scored(customers, customer_model)
    roles = std["role"].to_numpy()
    i = int(np.flatnonzero(roles[scored.left] != roles[scored.right])[0])
    exp = scored.explain(i)
    assert [c.comparison for c in exp.comparisons] == [
        c.name for c in customer_model.spec.comparisons
    ]
    assert "different_role" in exp.rules_fired
    assert exp.cannot_link
    assert exp.probability == 0.0
    assert exp.decision == "no_match"
    total = exp.prior_weight + sum(c.weight + c.tf_adjustment for c in exp.comparisons)
    assert abs(total - exp.match_weight) < 1e-4
    assert "different_role (cannot-link)" in exp.text()


def test_must_link_and_cannot_link_on_tax_ids(customer_model):
    spec = customer_model.spec
    base = {"role": "legal_entity", "name": "Totally Different Name", "country": "DE"}
    recs = [
        {**base, "id": "1", "tax_ids": [{"scheme": "vat", "value": "DE136695976"}]},
        {
            **base,
            "id": "2",
            "name": "Other Thing",
            "city": "Bonn",
            "tax_ids": [{"scheme": "vat", "value": "136695976", "country": "DE"}],
        },
        {**base, "id": "3", "tax_ids": [{"scheme": "vat", "value": "DE129273398"}]},
    ]
    std = [m.standardise_record(r, spec) for r in recs]
    out = {c.candidate_id: c for c in m.score_one(customer_model, std[0], std[1:])}
    assert out["2"].must_link
    assert out["2"].probability == 1.0
    assert out["3"].cannot_link
    assert out["3"].probability == 0.0
    assert out["3"].explanation.match_weight > 0  # same name: the evidence is still shown


def test_an_identifier_no_checksum_vouches_for_is_evidence_but_decides_nothing(customer_model):
    # Two people as customers with the same national ID and name, one moved: the shared ID
    # carries the pair; an ID one typo away (two digits swapped) is a level of its own; two
    # different IDs are evidence against, never a cannot-link; an ID of another scheme with
    # the same digits is not the same ID.
    spec = customer_model.spec
    base = {"role": "legal_entity", "name": "Michaela Neumann", "country": "AU"}
    recs = [
        {**base, "id": "1", "city": "Perth", "tax_ids": [{"scheme": "ssn", "value": "530-4218"}]},
        {**base, "id": "2", "city": "Sydney", "tax_ids": [{"scheme": "SSN", "value": "5304218"}]},
        {**base, "id": "3", "city": "Perth", "tax_ids": [{"scheme": "ssn", "value": "5304281"}]},
        {**base, "id": "4", "city": "Sydney", "tax_ids": [{"scheme": "acct", "value": "5304218"}]},
    ]
    std = [m.standardise_record(r, spec) for r in recs]
    assert std[0]["tax_ids"] == ()
    assert std[0]["tax_ids_other"] == ("ssn=5304218",)
    out = {c.candidate_id: c for c in m.score_one(customer_model, std[0], std[1:])}
    levels = {
        cid: next(e.level for e in c.explanation.comparisons if e.comparison == "other_id")
        for cid, c in out.items()
    }
    assert levels == {"2": "same", "3": "one typo", "4": "else"}
    assert not any(c.cannot_link or c.must_link for c in out.values())
    assert out["2"].probability > out["4"].probability


def test_names_that_share_nothing_go_to_a_steward_unless_an_identifier_agrees(customer_model):
    # Two restaurants of one hotel: its switchboard, address, e-mail and website. Everything
    # but the name agrees, which alone would link them; a steward decides instead. A shared
    # token, or an identifier that agrees, and they link as before.
    spec = customer_model.spec
    hotel = {
        "role": "legal_entity",
        "address": "3570 Las Vegas Blvd S",
        "city": "Las Vegas",
        "postal_code": "89109",
        "country": "US",
        "phones": ["+1 702 731 7110"],
        "emails": ["dining@circuscircus.com"],
        "website": "www.circuscircus.com",
    }
    recs = [
        {**hotel, "id": "1", "name": "Circus Circus", "duns": "150483782"},
        {**hotel, "id": "2", "name": "The Steak House"},
        {**hotel, "id": "3", "name": "Circus Circus Buffet"},
        {**hotel, "id": "4", "name": "Steak House", "duns": "150483782"},
    ]
    std = [m.standardise_record(r, spec) for r in recs]
    out = {c.candidate_id: c for c in m.score_one(customer_model, std[0], std[1:])}
    th = spec.thresholds
    capped = out["2"]
    # The evidence alone would link them (a match weight of 5 is p=0.97).
    assert capped.match_weight > 5
    assert th.review <= capped.probability < th.match
    assert capped.decision == "review"
    assert capped.explanation.rules_fired == ("names_share_nothing",)
    assert "names_share_nothing (review)" in capped.explanation.text()
    assert out["3"].decision == "match"  # the names share a token
    assert out["4"].decision == "match"  # the same DUNS
    assert not out["3"].explanation.rules_fired
    assert not out["4"].explanation.rules_fired


def test_a_suite_one_source_left_out_is_the_same_address_but_two_suites_are_two_sites(
    customer_model,
):
    spec = customer_model.spec
    base = {"name": "Wayne Tools", "postal_code": "10115", "country": "DE"}
    recs = [
        {**base, "id": "1", "role": "ship_to", "address": "12 Main St, Suite 400"},
        {**base, "id": "2", "role": "ship_to", "address": "12 Main Street"},
        {**base, "id": "3", "role": "ship_to", "address": "12 Main St Ste 500"},
    ]
    std = [m.standardise_record(r, spec) for r in recs]
    out = {c.candidate_id: c for c in m.score_one(customer_model, std[0], std[1:])}
    address = {
        cid: next(e.level for e in c.explanation.comparisons if e.comparison == "address")
        for cid, c in out.items()
    }
    assert address == {"2": "exact", "3": "exact"}
    assert not out["2"].cannot_link
    assert out["3"].cannot_link  # two suites of one building: two sites
    assert "different_site_unit" in out["3"].explanation.rules_fired


def test_score_one_agrees_with_batch(customers, customer_model):
    spec = customer_model.spec
    std, scored = _scored(customers, customer_model)
    records = std.to_dict("records")
    first = int(scored.left[0])
    partners = scored.right[scored.left == first]
    batch = dict(
        zip(
            scored.right_ids[scored.left == first],
            scored.match_weight[scored.left == first],
            strict=True,
        )
    )
    single = m.score_one(customer_model, records[first], [records[j] for j in partners])
    assert len(single) == len(partners)
    for cand in single:
        assert cand.match_weight == batch[cand.candidate_id]
    # Best first.
    assert [c.probability for c in single] == sorted((c.probability for c in single), reverse=True)
    assert spec.name == "customer"


def test_small_input_fast_paths_agree_with_vectorised_paths(customers, customer_model, monkeypatch):
    """The dict paths for a few hundred records, the pandas and sparse paths for many, and the
    per-pair path for one record's candidates score every pair alike."""
    spec = customer_model.spec
    std = m.standardise(customers, spec)
    pairs = m.candidate_pairs(std, spec)
    small = m.score(customer_model, std, None, pairs)
    with monkeypatch.context() as patched:
        patched.setattr(comparisons, "_SMALL", -1)  # force pandas / sparse paths
        large = m.score(customer_model, std, None, pairs)
    _assert_identical(small, large, explanations=False)

    # Each of a few records against its candidates, on column arrays: one pair at a time.
    records = std.to_dict("records")
    for first in np.unique(small.left)[:40].tolist():
        rows = np.flatnonzero(small.left == first)
        assert len(rows) <= scoring._PER_PAIR_UP_TO
        left, right = Columns([records[first]]), Columns([records[j] for j in small.right[rows]])
        with monkeypatch.context() as patched:
            patched.setattr(scoring, "compare_all", _refuse)
            patched.setattr(scoring, "evaluate_rules", _refuse)
            one = m.score(customer_model, left, right, (np.zeros(len(rows)), np.arange(len(rows))))
        assert np.array_equal(one.levels, small.levels[rows])
        assert np.array_equal(one.tf_adjustments, small.tf_adjustments[rows])
        assert np.array_equal(one.match_weight, small.match_weight[rows])
        assert np.array_equal(one.probability, small.probability[rows])
        assert np.array_equal(one.rules.fired, small.rules.fired[rows])
        assert np.array_equal(one.rules.must_link, small.rules.must_link[rows])
        assert np.array_equal(one.rules.cannot_link, small.rules.cannot_link[rows])
        assert np.array_equal(one.rules.review_only, small.rules.review_only[rows])


def test_column_arrays_of_stored_features_score_as_the_frame(customers, customer_model):
    """A few records (an API upsert) are scored on column arrays of their stored features:
    blanks left out, tuples through JSON and back. Every pair scores as on the frame a bulk
    chunk scores on."""
    import orjson

    from matching.comparisons import Columns
    from mdm.linkage.service import _storable, stored_features

    std, scored = _scored(customers, customer_model)
    stored = [orjson.loads(orjson.dumps(_storable(r))) for r in std.to_dict("records")]
    assert any(len(r) < len(std.columns) for r in stored)  # some blanks were left out
    columns = Columns([stored_features(r) for r in stored])
    again = m.score(customer_model, columns, None, (scored.left, scored.right))
    assert (again.levels == scored.levels).all()
    assert np.allclose(again.match_weight, scored.match_weight)
    assert (again.rules.fired == scored.rules.fired).all()
    assert again.right_ids.tolist() == scored.right_ids.tolist()


# A hand-made handful, as an upsert or a match-on-query scores it: every comparison of the
# customer spec reaches its levels (names through exact, IDF cosine, ratio and token set;
# addresses with the same and with other house numbers; a postcode one keystroke off; a city
# compared only where the postcode is missing; shared phones, e-mails and company domains;
# one VAT number shared and one different; two roles; two ship-to sites of one company).
_HANDFUL: list[dict[str, object]] = [
    {
        "id": "q",
        "role": "legal_entity",
        "name": "Wayne Tools GmbH",
        "tax_ids": [{"scheme": "vat", "value": "DE136695976"}],
        "address": "12 Main Street",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
        "phones": ["+49 30 1234567", "+49 30 7654321"],
        "emails": ["orders@wayne.example"],
        "website": "www.wayne.de",
        "duns": "15-048-3782",
    },
    {
        "id": "same",
        "role": "legal_entity",
        "name": "Wayne Tools GmbH",
        "tax_ids": [{"scheme": "vat", "value": "136695976", "country": "DE"}],
        "address": "12 Main St",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "Germany",
        "phones": ["+49 30 1234567"],
        "emails": ["orders@wayne.example"],
        "website": "https://wayne.de",
        "duns": "150483782",
    },
    {
        "id": "typo",
        "role": "legal_entity",
        "name": "Wanye Tools",
        "tax_ids": [{"scheme": "vat", "value": "DE129273398"}],
        "address": "14 Main Street",
        "city": "Berlin",
        "postal_code": "10151",
        "country": "DE",
        "emails": ["sales@wayne.example"],
    },
    {
        "id": "reordered",
        "role": "legal_entity",
        "name": "Tools Wayne Berlin GmbH",
        "address": "Main Street 12",
        "city": "Berlni",
        "country": "DE",
        "phones": ["+49 30 7654321"],
    },
    {
        "id": "other",
        "role": "legal_entity",
        "name": "Acme Foods Ltd",
        "address": "1 Harbour Road",
        "city": "London",
        "postal_code": "SW1A 1AA",
        "country": "GB",
        "website": "www.acme.co.uk",
        "duns": "316712452",
    },
    {
        "id": "bare",
        "name": "Wayne Tools",
        "tax_ids": [{"scheme": "registration", "value": "HRB 17"}],
    },
    {
        "id": "nearby",
        "role": "legal_entity",
        "name": "Berlin Wayne Tools",
        "address": "12 Mian Strasse",
        "city": "Berlin",
        "country": "DE",
        "emails": ["info@acme.co.uk"],
    },
    {
        "id": "site-1",
        "role": "ship_to",
        "name": "Wayne Tools GmbH",
        "tax_ids": [{"scheme": "registration", "value": "HRB 4711"}],
        "address": "3 Mill Lane",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
    {
        "id": "site-2",
        "role": "ship_to",
        "name": "Wayne Tools GmbH",
        "tax_ids": [{"scheme": "registration", "value": "HRB 4711"}],
        "address": "5 Mill Lane",
        "city": "Berlin",
        "postal_code": "10117",
        "country": "DE",
    },
]


def _assert_a_handful_scores_as_the_frame(model, handful):
    """Column arrays of a few records (the single-record path) give every pair the levels,
    term-frequency adjustments, weights, probabilities, rule outcomes and explanations that the
    vectorised paths give, on column arrays and on the frame a batch scores."""
    spec = model.spec
    frame = m.standardise(handful, spec)
    records = [m.standardise_record(r, spec) for r in handful]
    left, right = _all_pairs(len(records))
    per_pair, vectorised, bulk = _three_paths(model, records, None, (left, right))
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(comparisons, "_SMALL", -1)  # pandas, sparse matrices, cpdist in bulk
        batch = m.score(model, frame, None, (left, right))

    for c, comp in enumerate(spec.comparisons):  # null, agreement and disagreement at least
        assert len(set(batch.levels[:, c].tolist())) > 2, comp.name
    assert batch.rules.must_link.any()
    assert batch.rules.cannot_link.any()
    assert batch.tf_adjustments.any()
    for other in (vectorised, bulk, batch):
        _assert_identical(per_pair, other)

    # One record against its candidates, as score_one holds them: two sets of column arrays.
    n = len(records) - 1
    one = _three_paths(model, records[:1], records[1:], (np.zeros(n), np.arange(n)))
    for other in one[1:]:
        _assert_identical(one[0], other)
    single = {c.candidate_id: c for c in m.score_one(model, records[0], records[1:])}
    first = left == 0
    for j, weight, probability in zip(
        right[first], batch.match_weight[first], batch.probability[first], strict=True
    ):
        cand = single[str(handful[j]["id"])]
        assert (cand.match_weight, cand.probability) == (weight, probability)
        assert cand.explanation == batch.explain(int(np.flatnonzero(first & (right == j))[0]))


def test_a_handful_of_records_scores_as_the_vectorised_frame(customer_model):
    from mdm.linkage.service import spec_for

    assert customer_model.spec == spec_for("customer")
    assert customer_model.idf_tables()  # the name's IDF levels are exercised
    _assert_a_handful_scores_as_the_frame(customer_model, _HANDFUL)


# A handful of products: one GTIN written two ways and a different GTIN; part numbers shared,
# alike with the same digits, and of another size; a brand in capitals and misspelt; titles
# from the same words to none in common, listing the same numbers, more numbers and others;
# prices within 5 %, within 25 % and further apart; categories the same, other and missing.
_PRODUCT_HANDFUL: list[dict[str, object]] = [
    {
        "id": "q",
        "brand": "Kronmark",
        "name": "Ring-Maulschlüssel 13 mm",
        "mpn": "CW1015-13",
        "gtin": "4059952512341",
        "price": 12.0,
        "category": "tools",
    },
    {
        "id": "same-gtin",
        "brand": "KRONMARK",
        "name": "Combination wrench 13mm, chrome",
        "mpn": "CW1015/13",
        "gtin": "04059952512341",
        "price": 12.5,
        "category": "tools",
    },
    {
        "id": "other-size",
        "brand": "Kronmark",
        "name": "Ring-Maulschlüssel 19 mm",
        "mpn": "CW1015-19",
        "gtin": "4059952512358",
        "price": 14.5,
        "category": "tools",
    },
    {
        "id": "camera",
        "brand": "Sony",
        "name": "Camera DSC-W120 silver",
        "mpn": "DSCW120",
        "price": 99.0,
        "category": "cameras",
    },
    {"id": "camera-b", "brand": "Sonny", "name": "DSC W120 camera", "mpn": "DSC-W120B"},
    {
        "id": "nut",
        "brand": "Harvo",
        "name": "Hex nut DIN 934 zinc plated 200 pcs M6",
        "price": 4.2,
        "category": "fasteners",
    },
    {
        "id": "nut-de",
        "brand": "Harvo",
        "name": "Sechskantmutter DIN 934 verzinkt M6",
        "price": 4.2,
        "category": "fasteners",
    },
    {"id": "bare", "name": "Hex nut"},
    {
        "id": "headphones",
        "brand": "Sony",
        "name": "Sony WH-1000XM4 Wireless Headphones Black",
        "price": 279.0,
        "category": "audio",
    },
    {
        "id": "headphones-feed",
        "brand": "SONY",
        "name": "WH1000XM4 headphones, black",
        "mpn": "WH-1000XM4",
        "price": 285.0,
        "category": "audio",
    },
]


def test_a_handful_of_products_scores_as_the_vectorised_frame(product_model):
    from mdm.linkage.service import spec_for

    assert product_model.spec == spec_for("product")
    assert product_model.idf_tables()  # the title's IDF levels are exercised
    _assert_a_handful_scores_as_the_frame(product_model, _PRODUCT_HANDFUL)


# --------------------------------------------------------------------------- drawn records
# Standardised records drawn from small pools, so that pairs agree, nearly agree (typos,
# reordered words, other digits, dates a month apart) and disagree. A field may be absent,
# None or NaN; a multi-valued one a tuple or a list (empty, or longer than the values
# compared), one value, or None.


def _single(*pool):
    return st.sampled_from([*pool, None, float("nan")])


def _multi(*pool):
    items = st.lists(st.sampled_from(pool), max_size=6)
    return st.one_of(items.map(tuple), items, st.sampled_from(pool), st.none())


@st.composite
def _records(draw, **fields):
    record = draw(st.fixed_dictionaries(fields))
    for column in draw(st.sets(st.sampled_from(sorted(fields)), max_size=2)):
        del record[column]
    return record


_CUSTOMER_RECORDS = _records(
    name=_single(
        "wayne tools",
        "wanye tools",
        "tools wayne",
        "wayne tools berlin",
        "wayne foods",
        "acme foods",
        "acme food",
        "acme tools 0",
        "",
    ),
    name_legal_form=_single("gmbh", "ltd"),
    role=_single("legal_entity", "sold_to", "ship_to", "bill_to"),
    tax_ids=_multi(
        "DE:vat=DE136695976",
        "DE:vat=DE129273398",
        "GB:vat=GB123456789",
        "vat=DE123",
        "vat=DE124",
        "plain",
    ),
    tax_ids_other=_multi("national_id=5304218", "national_id=5304219", "registration=HRB1"),
    duns=_single("150483782", "316712452"),
    address=_single(
        "12 main st", "12 main street", "12 mian st", "14 main st", "main st 12", "3 mill ln"
    ),
    address_number=_single("12", "14", "3"),
    address_unit=_single("4", "5"),
    city=_single("berlin", "berlni", "hamburg"),
    postal_code=_single("10115", "10151", "10117", "SW1A 1AA"),
    country=_single("DE", "GB"),
    phones=_multi("+49301234567", "+49307654321", "+4930123456"),
    emails=_multi("orders@wayne.example", "sales@wayne.example", "info@acme.co.uk"),
    emails_domains=_multi("wayne.example", "acme.co.uk"),
    website=_single("wayne.de", "acme.co.uk"),
)

_PRODUCT_RECORDS = _records(
    gtin=_single("04059952512341", "04059952512358", "00000000000017"),
    mpn_all=_multi("CW101513", "CW101519", "DSCW120", "DSCW120B", "WH1000XM4", "WH1000XM5"),
    brand=_single("sony", "sonny", "kronmark", "kronmrak", "harvo"),
    name=_single(
        "ring maulschlussel 13 mm",
        "ring maulschlussel 19 mm",
        "combination wrench 13mm chrome",
        "camera dsc w120 silver",
        "dsc w120 camera",
        "hex nut din 934 m6",
        "hex nut",
        "hex nut 10 mm",
        "wireless headphones 10 mm silver",
        "wireless headphones 13 mm black",
        "sony wireless headphones",
        "cordless drill 13 mm",
        "cordless drill 10 mm black",
    ),
    name_numbers=_single("13", "19", "13 19", "934 6", "120"),
    # 100 and 95, 4 and 3: exactly 5 % and 25 % apart.
    price=st.one_of(
        _single(100.0, 95.0, 4, 3, 99.0, 0.0, -0.0), st.floats(-1e4, 1e4), st.integers(-9, 9)
    ),
    category=_single("tools", "cameras", "audio"),
)

# Names a keystroke apart and further (Jaro-Winkler above 0.92, and from 0.8 to 0.92); dates
# exactly a month and a year apart with several digits changed (so no edit distance level
# takes the pair first), two keystrokes and years apart, with day and month swapped, and no
# dates at all.
_PERSON_RECORDS = _records(
    given_name=_single("ann", "anne", "lee", "alexandra", "alexander", "dwayne", "duane"),
    surname=_single("lee", "li", "ann", "thompson", "thomsen", "thomas", "tomson"),
    date_of_birth=_single(
        "19800312",
        "19801203",
        "19800313",
        "19801231",
        "19810131",
        "19800229",
        "19810301",
        "19830313",
        "1980031",
        "notadate",
    ),
    soc_sec_id=_single("1804974", "1809474", "1804975", "2345678"),
    street_number=_single("12", "21", "12a"),
    address_1=_single("main st", "mian st", "mill ln"),
    address_2=_single("unit 4", "unit 5"),
    postcode=_single("2000", "2001", "3000"),
    state=_single("nsw", "vic"),
    suburb=_single("kingsford", "kingsfrod", "kingsfoot", "kensington"),
)


def _level(kind, **options):
    return m.Level(label=f"{kind} {options}", kind=kind, **options)


_NULL, _EXACT, _ELSE = _level("null"), _level("exact"), _level("else")

# Every level kind and test, in orders the shipped specs do not use: a date's swap before
# its exact level, scored levels before exact and overlap ones, a swap on a comparison that
# yields to another column, IDF without a table, fuzzy part numbers before shared ones, a
# numeric level that wants equality, rules on every test.
_ODD_SPEC = m.MatchSpec(
    name="odd",
    entity_type="other",
    standardisers=(
        m.Standardiser(field="codes", kind="tax_id"),
        m.Standardiser(field="mail", kind="email"),
    ),
    blocking_rules=(m.BlockingRule(name="code", parts=(m.KeyPart(column="code"),)),),
    comparisons=(
        m.Comparison(
            name="date",
            column="date",
            tf_adjust=True,
            levels=(
                _NULL,
                _level("date", transposed=True),
                _level("date", threshold=31),
                _level("distance", scorer="levenshtein", threshold=2),
                _EXACT,
                _ELSE,
            ),
        ),
        m.Comparison(
            name="title",
            column="title",
            levels=(
                _NULL,
                _level("idf", threshold=0.5),
                _level("fuzzy", scorer="token_sort_ratio", threshold=0.7, same_digits=True),
                _level("fuzzy", scorer="partial_ratio", threshold=0.6),
                _level("overlap"),
                _ELSE,
            ),
        ),
        m.Comparison(
            name="amount",
            column="amount",
            levels=(
                _NULL,
                _level("numeric", threshold=0.0),
                _level("numeric", threshold=0.1),
                _ELSE,
            ),
        ),
        m.Comparison(
            name="first",
            column="first",
            tf_adjust=True,
            unless_compared="code",
            levels=(
                _NULL,
                _level("swap", other_column="last"),
                _EXACT,
                _level("distance", scorer="damerau_levenshtein", threshold=1),
                _ELSE,
            ),
        ),
        m.Comparison(
            name="codes",
            column="codes",
            unless_compared="code",
            levels=(
                _NULL,
                _level("fuzzy", scorer="jaro_winkler", threshold=0.8, same_digits=True),
                _EXACT,
                _ELSE,
            ),
        ),
        m.Comparison(
            name="mail",
            column="mail",
            levels=(
                _NULL,
                _level("overlap", column="mail_domains"),
                _level("overlap"),
                _level("fuzzy", scorer="ratio", threshold=0.9),
                _ELSE,
            ),
        ),
    ),
    rules=(
        m.MatchRule(
            name="same_codes",
            effect="must_link",
            all_of=(
                m.Condition(column="codes", test="equal"),
                m.Condition(column="mail", test="missing_or_equal"),
            ),
        ),
        m.MatchRule(
            name="other_codes",
            effect="cannot_link",
            all_of=(m.Condition(column="codes", test="differ"),),
        ),
        m.MatchRule(
            name="titles_apart",
            effect="cannot_link",
            all_of=(
                m.Condition(column="first", test="both_in", values=("ann", "lee")),
                m.Condition(column="title", test="similarity_below", scorer="jaro", threshold=0.6),
            ),
        ),
        m.MatchRule(
            name="last_names_apart",
            effect="cannot_link",
            all_of=(
                m.Condition(column="last", test="similarity_below", scorer="jaro", threshold=0.6),
            ),
        ),
        m.MatchRule(
            name="same_amount",
            effect="must_link",
            all_of=(
                m.Condition(column="first", test="missing_or_equal"),
                m.Condition(column="amount", test="equal"),
                m.Condition(column="date", test="differ"),
            ),
        ),
    ),
)

_ODD_RECORDS = _records(
    # 19800303: its day and month swapped is itself.
    date=_single("19800312", "19801203", "19800303", "19801231", "19810131", "abcdefgh"),
    title=_single(
        "cw 1015 13", "wrench 13 cw 1015", "cw101513", "cw101513b", "cw101519", "hex nut", ""
    ),
    # 1e-13 and 0: a tenth of the 1e-12 that divides when both are about zero.
    amount=_single(100.0, 110.0, 4, 3, 0.0, -0.0, 1e-13),
    first=_single("ann", "lee", "li"),
    # lee and li: a Jaro similarity of 0.61, just above the rule's 0.6.
    last=_single("ann", "lee", "li"),
    code=_single("a", "b"),
    codes=_multi("X:vat=CW101513", "X:vat=CW101519", "Y:vat=CW101513", "CW101513", "vat=1"),
    # aa@x.tests and ab@x.tests: exactly at the ratio threshold of 0.9.
    mail=_multi("a@x.example", "b@x.example", "a@y.example", "aa@x.tests", "ab@x.tests"),
    mail_domains=_multi("x.example", "y.example"),
)


def _hand_made_model(spec, frequencies):
    """Every level has a weight of its own; the named columns' values their frequencies."""
    parameters = [
        ComparisonParameters(
            comparison=c.name,
            m=[None, *(0.9 / k for k in range(1, len(c.levels)))],
            u=[None, *(0.01 * k for k in range(1, len(c.levels)))],
        )
        for c in spec.comparisons
    ]
    tables = [
        TermFrequencies(column=column, frequencies=values, default=0.001)
        for column, values in frequencies.items()
    ]
    return m.MatchModel(spec=spec, prior=0.01, parameters=parameters, term_frequencies=tables)


@pytest.fixture(scope="module")
def person_model():
    names = {"ann": 0.02, "lee": 0.3}
    return _hand_made_model(m.person_spec(), {"given_name": names, "surname": names})


@pytest.fixture(scope="module")
def odd_model():
    return _hand_made_model(
        _ODD_SPEC, {"first": {"ann": 0.5, "li": 1e-14}, "date": {"19800303": 0.2}}
    )


def _assert_drawn_pairs_score_alike(model, data, records):
    """Pairs of drawn records, in one set or between two, score alike on every path."""
    left = data.draw(st.lists(records, min_size=1, max_size=6))
    left = [{"id": f"l{i}", **r} for i, r in enumerate(left)]
    right = data.draw(st.none() | st.lists(records, min_size=1, max_size=6))
    if right is None:  # one set of records: each pair once, and a record with itself
        pairs = [(i, j) for i in range(len(left)) for j in range(i, len(left))]
    else:
        right = [{"id": f"r{j}", **r} for j, r in enumerate(right)]
        pairs = [(i, j) for i in range(len(left)) for j in range(len(right))]
    li, ri = (np.array(p, dtype=np.int64) for p in zip(*pairs, strict=True))
    per_pair, vectorised, bulk = _three_paths(model, left, right, (li, ri))
    _assert_identical(per_pair, vectorised, explanations=False)
    _assert_identical(per_pair, bulk, explanations=False)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_drawn_customers_score_alike_one_pair_at_a_time_and_vectorised(customer_model, data):
    _assert_drawn_pairs_score_alike(customer_model, data, _CUSTOMER_RECORDS)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_drawn_products_score_alike_one_pair_at_a_time_and_vectorised(product_model, data):
    _assert_drawn_pairs_score_alike(product_model, data, _PRODUCT_RECORDS)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_drawn_people_score_alike_one_pair_at_a_time_and_vectorised(person_model, data):
    _assert_drawn_pairs_score_alike(person_model, data, _PERSON_RECORDS)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_drawn_records_of_every_level_kind_score_alike(odd_model, data):
    _assert_drawn_pairs_score_alike(odd_model, data, _ODD_RECORDS)
